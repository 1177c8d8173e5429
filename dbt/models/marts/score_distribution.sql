-- Per arrival hour: fraud-score histogram in ten 0.1-wide buckets (bucket 9 includes 1.0).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_affected_hours() }}"
) }}
with counted as (
    select
        arrival_hour,
        cast(least(floor(fraud_score * 10), 9) as integer) as bucket,
        count(*) as posts
    from {{ affected_posts() }}
    where {{ affected_partitions() }} and fraud_score is not null
    group by 1, 2
)

select
    arrival_hour,
    bucket,
    posts,
    round(cast(posts as double) / sum(posts) over (partition by arrival_hour), 6) as share
from counted
