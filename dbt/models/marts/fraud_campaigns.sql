-- Campaigns: the same (normalized) text posted by many distinct accounts (incremental: the
-- texts the affected hours touch).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_touched_keys('int_hourly_texts', 'text_key') }}"
) }}
with grouped as (
    select
        text_key,
        md5(text_key)[:16] as campaign_id,
        min(sample_text) as sample_text,
        sum(posts)::bigint as posts,
        len(list_distinct(flatten(list(dids)))) as accounts,
        sum(fraud_posts)::bigint as fraud_posts,
        min(first_seen) as first_seen,
        max(last_seen) as last_seen,
        list_sort(list_distinct(flatten(list(domains)))) as domains
    from {{ ref('int_hourly_texts') }}
    {% if is_incremental() %}where text_key in ({{ touched_keys('int_hourly_texts', 'text_key') }}){% endif %}
    group by text_key
    having len(list_distinct(flatten(list(dids)))) >= {{ var('campaign_min_accounts') }}
)

select
    *,
    round(fraud_posts / posts, 4) as fraud_share,
    date_diff('second', first_seen, last_seen) as active_seconds
from grouped
