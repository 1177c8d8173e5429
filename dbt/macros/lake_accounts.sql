{#
  The lake's accounts table (account verdict records) as a relation. Before the first record
  exists, the columns the marts read with no rows, so a fresh install builds green.
#}
{% macro lake_accounts() %}{{ return(adapter.dispatch('lake_accounts', 'fraud_pipeline')()) }}{% endmacro %}

{#- Athena: the Glue table `provision` registers (hourly partition projection). -#}
{% macro athena__lake_accounts() %}{{ source('lake', 'accounts') }}{% endmacro %}

{% macro default__lake_accounts() %}
  {%- set glob = env_var('FRAUD_PIPELINE_ACCOUNTS_GLOB', '../.fraud-pipeline/lake/fraud-detect-dev-lake/accounts/*/*/*/*/*.parquet') -%}
  {%- set found = 1 -%}
  {%- if execute -%}
    {%- set found = run_query("select count(*) from glob('" ~ glob ~ "')").columns[0].values()[0] -%}
  {%- endif -%}
  {%- if found > 0 -%}
    read_parquet('{{ glob }}', union_by_name = true)
  {%- else -%}
    (select
        cast(null as varchar) as did, cast(null as varchar) as operation,
        cast(null as double) as fraud_score, cast(null as varchar) as action,
        cast(null as varchar[]) as reasons, cast(null as varchar[]) as rule_hits,
        cast(null as double) as fraud_text_likelihood, cast(null as varchar) as account_signals,
        cast(null as varchar) as policy_version, cast(null as bigint) as time_us,
        cast(null as bigint) as scored_at_us
     where false)
  {%- endif -%}
{% endmacro %}
