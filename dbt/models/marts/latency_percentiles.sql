-- Per minute: end-to-end (event -> verdict) and scoring (ingest -> verdict) latency percentiles.
-- A minute whose posts arrived in two hours (the hour boundary) gets the percentiles of each
-- hour averaged by their post counts; every other minute's are exact.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_touched_keys('int_hourly_latency', 'ts') }}"
) }}
select
    ts,
    cast(sum(posts) as bigint) as posts,
    sum(end_to_end_p50_ms * end_to_end_n) / nullif(sum(end_to_end_n), 0) as end_to_end_p50_ms,
    sum(end_to_end_p95_ms * end_to_end_n) / nullif(sum(end_to_end_n), 0) as end_to_end_p95_ms,
    sum(end_to_end_p99_ms * end_to_end_n) / nullif(sum(end_to_end_n), 0) as end_to_end_p99_ms,
    sum(scoring_p50_ms * scoring_n) / nullif(sum(scoring_n), 0) as scoring_p50_ms,
    sum(scoring_p95_ms * scoring_n) / nullif(sum(scoring_n), 0) as scoring_p95_ms,
    sum(scoring_p99_ms * scoring_n) / nullif(sum(scoring_n), 0) as scoring_p99_ms
from {{ ref('int_hourly_latency') }}
{% if is_incremental() %}where ts in ({{ touched_keys('int_hourly_latency', 'ts') }}){% endif %}
group by ts
