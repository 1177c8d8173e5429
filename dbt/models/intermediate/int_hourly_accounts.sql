-- Per arrival hour and account: posts, fraud posts, score and the fraud posts' domains and rules.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ record_touched_and_delete('did', 'varchar') }}"
) }}
select
    arrival_hour,
    did,
    count(*) as posts,
    count(*) filter (where is_fraud) as fraud_posts,
    max(fraud_score) as max_fraud_score,
    min(event_at) as first_seen,
    max(event_at) as last_seen,
    {{ fp_flat_distinct('domains', 'is_fraud') }} as fraud_domains,
    {{ fp_flat_distinct('rule_hits', 'is_fraud') }} as rule_hits
from {{ affected_posts() }}
where {{ affected_partitions() }}
group by 1, 2
