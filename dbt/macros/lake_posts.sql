{#
  The compacted lake as a relation: Hive partitions dt (DATE) and hour (INTEGER). Before the
  first partition exists, the same columns with no rows (from the zero-row schema file), so a
  fresh install builds green.

  `hours` (a list of 'YYYY-MM-DD HH'): only those partitions, named file by file. An
  incremental build reads the hours it recomputes this way rather than filtering the whole
  lake's glob, so no plan can scan the lake: DuckDB loses the partition filter under some
  plans (a window rewritten as a join, an UNNEST), and then reads every file.
#}
{% macro lake_posts(hours=none) %}{{ return(adapter.dispatch('lake_posts', 'fraud_pipeline')(hours)) }}{% endmacro %}

{#- Athena: the Glue table Dagster keeps partitioned (dt, hour as strings); Athena prunes them. -#}
{% macro athena__lake_posts(hours=none) -%}
  {%- if hours is none -%} {{ source('lake', 'compacted_posts') }}
  {%- else -%} (select * from {{ source('lake', 'compacted_posts') }} where {{ lake_hours_filter() }})
  {%- endif -%}
{%- endmacro %}

{% macro default__lake_posts(hours=none) %}
  {%- set glob = env_var('FRAUD_PIPELINE_COMPACTED_GLOB', '../.fraud-pipeline/lake/fraud-detect-dev-lake/compacted/dt=*/hour=*/*.parquet') -%}
  {%- set files = [] -%}
  {%- if execute and hours is none -%}
    {%- set found = run_query("select count(*) from glob('" ~ glob ~ "')").columns[0].values()[0] -%}
    {%- if found > 0 -%}{%- do files.append(glob) -%}{%- endif -%}
  {%- elif execute and hours | length > 0 -%}
    {%- set root = glob.split('dt=*')[0] -%}
    {%- set globs = [] -%}
    {%- for h in hours -%}
      {%- do globs.append("select file from glob('" ~ root ~ "dt=" ~ h[:10] ~ "/hour=" ~ h[11:13] ~ "/*.parquet')") -%}
    {%- endfor -%}
    {%- set listed = run_query(globs | join(' union all ') ~ ' order by file').columns[0].values() -%}
    {%- for f in listed -%}{%- do files.append(f) -%}{%- endfor -%}
  {%- elif not execute -%}
    {%- do files.append(glob) -%}
  {%- endif -%}
  {%- if files -%}
    read_parquet([{%- for f in files %}'{{ f }}'{% if not loop.last %}, {% endif %}{% endfor -%}], hive_partitioning = true, hive_types = {'dt': DATE, 'hour': INTEGER})
  {%- else -%}
    (select *, null::date as dt, null::integer as hour
     from read_parquet('{{ env_var("FRAUD_PIPELINE_POSTS_SCHEMA_FILE") }}') where false)
  {%- endif -%}
{% endmacro %}
