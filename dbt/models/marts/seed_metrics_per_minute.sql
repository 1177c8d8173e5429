-- Per-minute roll-up of the per-second series (sums of counters, derived series recomputed).
with counters as (
    select
        date_trunc('minute', ts) as ts,
        sum(post_processed)::bigint as post_processed,
        sum(post_text_only)::bigint as post_text_only,
        sum(post_is_fraud)::bigint as post_is_fraud,
        sum(post_fraud_both)::bigint as post_fraud_both,
        sum(post_fraud_media)::bigint as post_fraud_media,
        sum(post_fraud_text)::bigint as post_fraud_text
    from {{ ref('seed_metrics_per_second') }}
    group by 1
)

select
    *,
    {{ seed_derived() }}
from counters
order by ts
