-- Accounts with at least one fraud verdict (incremental: the accounts the affected hours touch).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_touched_keys('int_hourly_accounts', 'did') }}"
) }}
select
    did,
    cast(sum(posts) as bigint) as posts,
    cast(sum(fraud_posts) as bigint) as fraud_posts,
    round(cast(sum(fraud_posts) as double) / sum(posts), 4) as fraud_share,
    max(max_fraud_score) as max_fraud_score,
    min(first_seen) as first_seen,
    max(last_seen) as last_seen,
    {{ fp_flat_distinct('fraud_domains') }} as fraud_domains,
    {{ fp_flat_distinct('rule_hits') }} as rule_hits
from {{ ref('int_hourly_accounts') }}
{% if is_incremental() %}where did in ({{ touched_keys('int_hourly_accounts', 'did') }}){% endif %}
group by did
having sum(fraud_posts) > 0
