-- Per arrival hour and scoring minute: latency percentiles and how many posts they describe.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ record_touched_and_delete('ts', 'timestamp') }}"
) }}
select
    arrival_hour,
    date_trunc('minute', scored_at) as ts,
    count(*) as posts,
    count(end_to_end_ms) as end_to_end_n,
    count(scoring_ms) as scoring_n,
    {{ fp_quantile('end_to_end_ms', 0.5) }} as end_to_end_p50_ms,
    {{ fp_quantile('end_to_end_ms', 0.95) }} as end_to_end_p95_ms,
    {{ fp_quantile('end_to_end_ms', 0.99) }} as end_to_end_p99_ms,
    {{ fp_quantile('scoring_ms', 0.5) }} as scoring_p50_ms,
    {{ fp_quantile('scoring_ms', 0.95) }} as scoring_p95_ms,
    {{ fp_quantile('scoring_ms', 0.99) }} as scoring_p99_ms
from {{ affected_posts() }}
where {{ affected_partitions() }}
group by 1, 2
