-- Accounts whose own verdict is flagged (label or review): the newest record of each account in
-- the lake's accounts table (the scorer writes one when an account's verdict changes), with the
-- account's posts beside it. A full table each build: one row per flagged account.
{{ config(materialized='table') }}
-- depends_on: {{ source('lake', 'accounts') }}

with records as (
    select
        did,
        fraud_score as score,
        action,
        reasons,
        rule_hits as signals_fired,
        fraud_text_likelihood as profile_text_likelihood,
        account_signals as signals,
        policy_version,
        {{ fp_timestamp_us('time_us') }} as judged_at,
        {{ fp_timestamp_us('scored_at_us') }} as evaluated_at,
        row_number() over (partition by did order by time_us desc, scored_at_us desc) as newest
    from {{ lake_accounts() }}
    where operation = 'account'
),

flagged as (
    select * from records where newest = 1 and action in ('label', 'review')
),

posts as (
    select
        did,
        sum(posts) as posts,
        sum(fraud_posts) as fraud_posts,
        max(max_fraud_score) as max_fraud_score,
        min(first_seen) as first_seen,
        max(last_seen) as last_seen,
        {{ fp_flat_distinct('fraud_domains') }} as fraud_domains,
        {{ fp_flat_distinct('rule_hits') }} as rule_hits
    from {{ ref('int_hourly_accounts') }}
    where did in (select did from flagged)
    group by did
)

select
    flagged.did,
    flagged.score,
    flagged.action,
    flagged.reasons,
    flagged.signals_fired,
    flagged.profile_text_likelihood,
    flagged.signals,
    flagged.policy_version,
    flagged.judged_at,
    flagged.evaluated_at,
    cast(coalesce(posts.posts, 0) as bigint) as posts,
    cast(coalesce(posts.fraud_posts, 0) as bigint) as fraud_posts,
    case when posts.posts > 0 then round(cast(posts.fraud_posts as double) / posts.posts, 4) end as fraud_share,
    posts.max_fraud_score,
    posts.first_seen,
    posts.last_seen,
    posts.fraud_domains,
    posts.rule_hits
from flagged
left join posts on posts.did = flagged.did
