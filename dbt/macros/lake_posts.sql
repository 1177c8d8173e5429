{#
  The compacted lake as a relation: Hive partitions dt (DATE) and hour (INTEGER). Before the
  first partition exists, the same columns with no rows (from the zero-row schema file), so a
  fresh install builds green.
#}
{% macro lake_posts() %}{{ return(adapter.dispatch('lake_posts', 'fraud_pipeline')()) }}{% endmacro %}

{#- Athena: the Glue table Dagster keeps partitioned (dt, hour as strings). -#}
{% macro athena__lake_posts() %}{{ source('lake', 'compacted_posts') }}{% endmacro %}

{% macro default__lake_posts() %}
  {%- set glob = env_var('FRAUD_PIPELINE_COMPACTED_GLOB', '../.fraud-pipeline/lake/fraud-detect-dev-lake/compacted/dt=*/hour=*/*.parquet') -%}
  {%- set found = 1 -%}
  {%- if execute -%}
    {%- set found = run_query("select count(*) from glob('" ~ glob ~ "')").columns[0].values()[0] -%}
  {%- endif -%}
  {%- if found > 0 -%}
    read_parquet('{{ glob }}', hive_partitioning = true, hive_types = {'dt': DATE, 'hour': INTEGER})
  {%- else -%}
    (select *, null::date as dt, null::integer as hour
     from read_parquet('{{ env_var("FRAUD_PIPELINE_POSTS_SCHEMA_FILE") }}') where false)
  {%- endif -%}
{% endmacro %}
