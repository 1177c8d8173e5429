-- Every live post of the recomputed hours is counted exactly once in the hourly summary.
select 1
from (select sum(posts) as n from {{ ref('fraud_summary') }} where {{ affected_hours('arrival_hour') }}) s,
     (select count(*) as n from {{ ref('stg_posts') }} where {{ lake_hours_filter() }}) p
where coalesce(s.n, 0) <> p.n
