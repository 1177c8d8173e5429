{#- A number from the detection policy (policy/*.yaml), e.g. policy_value('fraud_rate_jump', 'factor').

The values arrive as JSON in FRAUD_PIPELINE_POLICY_VARS, written from the deployment's policy by
`fraud_pipeline.analytics.lake_sql.dbt_env` for every dbt run the project starts, so dbt never
holds a copy of a threshold. While dbt only parses (`execute` is false) a placeholder is fine;
a run without the variable stops with an error rather than guessing a number.
-#}
{% macro policy_value(section, key) %}
  {%- set values = fromjson(env_var('FRAUD_PIPELINE_POLICY_VARS', '{}')) -%}
  {%- if section in values and key in values[section] -%}
    {{ return(values[section][key]) }}
  {%- elif execute -%}
    {{ exceptions.raise_compiler_error("detection policy value " ~ section ~ "." ~ key ~ " is missing: run dbt through fraud_pipeline (dbt_env sets FRAUD_PIPELINE_POLICY_VARS)") }}
  {%- else -%}
    {{ return(1) }}
  {%- endif -%}
{% endmacro %}
