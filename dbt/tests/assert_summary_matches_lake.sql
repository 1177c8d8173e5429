-- Every live post is counted exactly once in the hourly summary.
select 1
from (select sum(posts) as n from {{ ref('fraud_summary') }}) s,
     (select count(*) as n from {{ ref('stg_posts') }}) p
where coalesce(s.n, 0) <> p.n
