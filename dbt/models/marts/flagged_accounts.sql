-- Accounts with at least one fraud verdict, worst first.
select
    did,
    count(*) as posts,
    count(*) filter (where is_fraud) as fraud_posts,
    round(count(*) filter (where is_fraud) / count(*), 4) as fraud_share,
    max(fraud_score) as max_fraud_score,
    min(event_at) as first_seen,
    max(event_at) as last_seen,
    list_sort(list_distinct(flatten(list(domains) filter (where is_fraud)))) as fraud_domains,
    list_sort(list_distinct(flatten(list(rule_hits) filter (where is_fraud)))) as rule_hits
from {{ ref('stg_posts') }}
group by did
having count(*) filter (where is_fraud) > 0
order by fraud_posts desc, did
