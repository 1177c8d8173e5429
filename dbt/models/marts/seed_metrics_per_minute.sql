-- Per-minute roll-up of the seed counters (sums of counters, derived series recomputed);
-- incremental: the minutes the affected hours touch.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_touched_keys('int_hourly_seconds', 'ts', \"date_trunc('minute', ts)\") }}"
) }}
with counters as (
    select
        date_trunc('minute', ts) as ts,
        sum(post_processed)::bigint as post_processed,
        sum(post_text_only)::bigint as post_text_only,
        sum(post_is_fraud)::bigint as post_is_fraud,
        sum(post_fraud_both)::bigint as post_fraud_both,
        sum(post_fraud_media)::bigint as post_fraud_media,
        sum(post_fraud_text)::bigint as post_fraud_text
    from {{ ref('int_hourly_seconds') }}
    {% if is_incremental() -%}
    where date_trunc('minute', ts) in ({{ touched_keys('int_hourly_seconds', 'ts', "date_trunc('minute', ts)") }})
    {%- endif %}
    group by 1
)

select
    *,
    {{ seed_derived() }}
from counters
