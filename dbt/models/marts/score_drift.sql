-- Per arrival hour: score mean and fraud rate against the trailing window, the detection
-- policy's fraud-rate-jump rule (the same rule the compaction check and the stream sensor use),
-- and the population stability index (PSI) of the score histogram against the trailing one.
{%- set window = policy_value('fraud_rate_jump', 'baseline_hours') | int %}
{%- set jump_factor = policy_value('fraud_rate_jump', 'factor') | float %}
{%- set jump_absolute = policy_value('fraud_rate_jump', 'absolute') | float %}
{%- set jump_min_posts = policy_value('fraud_rate_jump', 'min_posts') | int %}
with buckets as (
    select arrival_hour, b.bucket, coalesce(d.posts, 0) as posts
    from (select distinct arrival_hour from {{ ref('score_distribution') }}) h
    cross join {{ fp_buckets() }}
    left join {{ ref('score_distribution') }} d using (arrival_hour, bucket)
),

baseline as (
    select
        arrival_hour,
        bucket,
        posts,
        sum(posts) over (
            partition by bucket order by arrival_hour
            {{ fp_trailing_hours(window) }}
        ) as baseline_posts
    from buckets
),

shares as (
    select
        arrival_hour,
        bucket,
        cast(posts as double) / nullif(sum(posts) over (partition by arrival_hour), 0) as p,
        cast(baseline_posts as double) / nullif(sum(baseline_posts) over (partition by arrival_hour), 0) as q
    from baseline
),

psi as (
    select
        arrival_hour,
        case when count(q) = 0 then null else
            sum((greatest(p, 1e-4) - greatest(q, 1e-4)) * ln(greatest(p, 1e-4) / greatest(q, 1e-4)))
        end as psi
    from shares
    group by arrival_hour
),

hourly as (
    select
        arrival_hour,
        posts,
        avg_fraud_score,
        fraud_rate,
        avg(avg_fraud_score) over w_prev as baseline_avg_fraud_score,
        avg(fraud_rate) over w_prev as baseline_fraud_rate
    from {{ ref('fraud_summary') }}
    window w_prev as (
        order by arrival_hour
        {{ fp_trailing_hours(window) }}
    )
)

select
    h.*,
    coalesce(
        h.posts >= {{ jump_min_posts }}
        and h.fraud_rate > greatest(h.baseline_fraud_rate * {{ jump_factor }}, h.baseline_fraud_rate + {{ jump_absolute }}),
        false
    ) as fraud_rate_jumped,
    round(p.psi, 6) as psi,
    coalesce(p.psi > 0.25, false) as drifted
from hourly h
left join psi p using (arrival_hour)
order by arrival_hour
