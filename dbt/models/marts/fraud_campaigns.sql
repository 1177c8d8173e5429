-- Campaigns: the same (normalized) text posted by many distinct accounts.
with normalized as (
    select
        *,
        lower(regexp_replace(trim(text), '\s+', ' ', 'g')) as text_key
    from {{ ref('stg_posts') }}
    where length(trim(text)) > 0
),

grouped as (
    select
        md5(text_key)[:16] as campaign_id,
        any_value(text) as sample_text,
        count(*) as posts,
        count(distinct did) as accounts,
        count(*) filter (where is_fraud) as fraud_posts,
        min(event_at) as first_seen,
        max(event_at) as last_seen,
        list_sort(list_distinct(flatten(list(domains)))) as domains
    from normalized
    group by text_key
    having count(distinct did) >= {{ var('campaign_min_accounts') }}
)

select
    *,
    round(fraud_posts / posts, 4) as fraud_share,
    date_diff('second', first_seen, last_seen) as active_seconds
from grouped
order by accounts desc, posts desc, campaign_id
