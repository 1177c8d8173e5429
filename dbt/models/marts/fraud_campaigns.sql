-- Campaigns as the scorer named them: posts carrying the same `campaign_id` (the id in their
-- `campaign:<id>` label), so the mart joins the labels exactly; the bar a group must reach is
-- the detection policy's (policy/behaviour.yaml), applied once, in the scorer. Incremental:
-- the campaigns the affected hours touch.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_touched_keys('int_hourly_texts', 'campaign_id') }}"
) }}
with grouped as (
    select
        campaign_id,
        min(sample_text) as sample_text,
        cast(sum(posts) as bigint) as posts,
        {{ fp_len(fp_flat_distinct('dids')) }} as accounts,
        cast(sum(fraud_posts) as bigint) as fraud_posts,
        min(first_seen) as first_seen,
        max(last_seen) as last_seen,
        {{ fp_flat_distinct('domains') }} as domains
    from {{ ref('int_hourly_texts') }}
    {% if is_incremental() %}where campaign_id in ({{ touched_keys('int_hourly_texts', 'campaign_id') }}){% endif %}
    group by campaign_id
)

select
    *,
    round(cast(fraud_posts as double) / posts, 4) as fraud_share,
    date_diff('second', first_seen, last_seen) as active_seconds
from grouped
