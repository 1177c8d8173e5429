-- The seed's 1-second metrics (by scoring time) and their derived series.
with counters as (
    select
        date_trunc('second', scored_at) as ts,
        {{ seed_counters() }}
    from {{ ref('stg_posts') }}
    group by 1
)

select
    *,
    {{ seed_derived() }}
from counters
order by ts
