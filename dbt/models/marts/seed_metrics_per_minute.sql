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
        cast(sum(post_processed) as bigint) as post_processed,
        cast(sum(post_text_only) as bigint) as post_text_only,
        cast(sum(post_is_fraud) as bigint) as post_is_fraud,
        cast(sum(post_fraud_both) as bigint) as post_fraud_both,
        cast(sum(post_fraud_media) as bigint) as post_fraud_media,
        cast(sum(post_fraud_text) as bigint) as post_fraud_text
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
