-- Per arrival hour and normalized text: posts, fraud posts, accounts (as a list), domains, first/last seen.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ record_touched_and_delete('text_key', 'varchar') }}"
) }}
with normalized as (
    select
        *,
        lower(regexp_replace(trim(text), '\s+', ' ', 'g')) as text_key
    from {{ ref('stg_posts') }}
    where {{ affected_partitions() }} and length(trim(text)) > 0
)

select
    arrival_hour,
    text_key,
    min(text) as sample_text,
    count(*) as posts,
    count(*) filter (where is_fraud) as fraud_posts,
    list_sort(list_distinct(list(did))) as dids,
    min(event_at) as first_seen,
    max(event_at) as last_seen,
    list_sort(list_distinct(flatten(list(domains)))) as domains
from normalized
group by 1, 2
