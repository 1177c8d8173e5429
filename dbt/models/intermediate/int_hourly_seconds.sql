-- Per arrival hour and scoring second: the seed's six counters (summed by seed_metrics_per_*).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ record_touched_and_delete('ts', 'timestamp') }}"
) }}
select
    arrival_hour,
    date_trunc('second', scored_at) as ts,
    {{ seed_counters() }}
from {{ affected_posts() }}
where {{ affected_partitions() }}
group by 1, 2
