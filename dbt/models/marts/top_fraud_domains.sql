-- Link domains in fraud posts, most frequent first.
with fraud_domains as (
    select did, event_at, unnest(domains) as domain
    from {{ ref('stg_posts') }}
    where is_fraud and len(coalesce(domains, [])) > 0
)

select
    domain,
    count(*) as fraud_posts,
    count(distinct did) as accounts,
    min(event_at) as first_seen,
    max(event_at) as last_seen,
    row_number() over (order by count(*) desc, domain) as rank
from fraud_domains
group by domain
order by rank
