-- Per arrival hour: volume, fraud, accounts, media and scores (incremental: the affected hours).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_affected_hours() }}"
) }}
select
    arrival_hour,
    count(*) as posts,
    count(*) filter (where is_fraud) as fraud_posts,
    round(cast(count(*) filter (where is_fraud) as double) / count(*), 6) as fraud_rate,
    count(distinct did) as accounts,
    count(distinct did) filter (where is_fraud) as fraud_accounts,
    count(*) filter (where has_media) as media_posts,
    count(*) filter (where is_fraud and has_media) as fraud_media_posts,
    count(*) filter (where is_fraud_text) as fraud_text_posts,
    round(avg(fraud_score), 6) as avg_fraud_score,
    min(event_at) as first_event_at,
    max(event_at) as last_event_at
from {{ affected_posts() }}
where {{ affected_partitions() }}
group by arrival_hour
