-- Per arrival hour and link domain of fraud posts: posts, accounts (as a list), first/last seen.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_affected_hours() }}"
) }}
with fraud_domains as (
    select p.arrival_hour, p.did, p.event_at, d.domain
    from {{ affected_posts() }} p
    cross join unnest(p.domains) as d(domain)
    where {{ affected_partitions() }} and p.is_fraud
)

select
    arrival_hour,
    domain,
    count(*) as fraud_posts,
    {{ fp_list_distinct('did') }} as dids,
    min(event_at) as first_seen,
    max(event_at) as last_seen
from fraud_domains
group by 1, 2
