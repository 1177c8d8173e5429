-- Per arrival hour and link domain of fraud posts: posts, accounts (as a list), first/last seen.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_affected_hours() }}"
) }}
with fraud_domains as (
    select arrival_hour, did, event_at, unnest(domains) as domain
    from {{ ref('stg_posts') }}
    where {{ affected_partitions() }} and is_fraud and len(coalesce(domains, [])) > 0
)

select
    arrival_hour,
    domain,
    count(*) as fraud_posts,
    list_sort(list_distinct(list(did))) as dids,
    min(event_at) as first_seen,
    max(event_at) as last_seen
from fraud_domains
group by 1, 2
