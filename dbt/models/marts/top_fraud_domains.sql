-- Link domains in fraud posts, most frequent first (from the small per-hour domain table).
with totals as (
    select
        domain,
        cast(sum(fraud_posts) as bigint) as fraud_posts,
        {{ fp_len(fp_flat_distinct('dids')) }} as accounts,
        min(first_seen) as first_seen,
        max(last_seen) as last_seen
    from {{ ref('int_hourly_fraud_domains') }}
    group by domain
)

select
    *,
    row_number() over (order by fraud_posts desc, domain) as rank
from totals
order by rank
