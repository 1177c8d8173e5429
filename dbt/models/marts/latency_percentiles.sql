-- Per minute: end-to-end (event -> verdict) and scoring (ingest -> verdict) latency percentiles.
select
    date_trunc('minute', scored_at) as ts,
    count(*) as posts,
    quantile_cont(end_to_end_ms, 0.5) as end_to_end_p50_ms,
    quantile_cont(end_to_end_ms, 0.95) as end_to_end_p95_ms,
    quantile_cont(end_to_end_ms, 0.99) as end_to_end_p99_ms,
    quantile_cont(scoring_ms, 0.5) as scoring_p50_ms,
    quantile_cont(scoring_ms, 0.95) as scoring_p95_ms,
    quantile_cont(scoring_ms, 0.99) as scoring_p99_ms
from {{ ref('stg_posts') }}
group by 1
order by 1
