{#
  The few SQL pieces DuckDB (local, and the Dagster task) and Athena (Trino) spell differently,
  dispatched on the adapter, so every model is written once. Everything else in the models is
  SQL both engines read alike (FILTER clauses, date_trunc, date_diff, window functions).
#}

{#- Distinct, sorted array of an aggregated column (optionally only rows where `where`). -#}
{% macro fp_list_distinct(expr, where=none) -%}
  {{ return(adapter.dispatch('fp_list_distinct', 'fraud_pipeline')(expr, where)) }}
{%- endmacro %}
{% macro default__fp_list_distinct(expr, where) -%}
  list_sort(list_distinct(list({{ expr }}){% if where %} filter (where {{ where }}){% endif %}))
{%- endmacro %}
{% macro athena__fp_list_distinct(expr, where) -%}
  array_sort(array_distinct(array_agg({{ expr }}){% if where %} filter (where {{ where }}){% endif %}))
{%- endmacro %}

{#- Distinct, sorted array of the elements of an aggregated array column. -#}
{% macro fp_flat_distinct(expr, where=none) -%}
  {{ return(adapter.dispatch('fp_flat_distinct', 'fraud_pipeline')(expr, where)) }}
{%- endmacro %}
{% macro default__fp_flat_distinct(expr, where) -%}
  list_sort(list_distinct(flatten(list({{ expr }}){% if where %} filter (where {{ where }}){% endif %})))
{%- endmacro %}
{% macro athena__fp_flat_distinct(expr, where) -%}
  array_sort(array_distinct(flatten(array_agg({{ expr }}){% if where %} filter (where {{ where }}){% endif %})))
{%- endmacro %}

{#- Number of elements of an array (0 for null). -#}
{% macro fp_len(expr) -%}
  {{ return(adapter.dispatch('fp_len', 'fraud_pipeline')(expr)) }}
{%- endmacro %}
{% macro default__fp_len(expr) -%} coalesce(len({{ expr }}), 0) {%- endmacro %}
{% macro athena__fp_len(expr) -%} coalesce(cardinality({{ expr }}), 0) {%- endmacro %}

{#- Continuous quantile (exact on DuckDB; Athena's is approximate). -#}
{% macro fp_quantile(expr, q) -%}
  {{ return(adapter.dispatch('fp_quantile', 'fraud_pipeline')(expr, q)) }}
{%- endmacro %}
{% macro default__fp_quantile(expr, q) -%} quantile_cont({{ expr }}, {{ q }}) {%- endmacro %}
{% macro athena__fp_quantile(expr, q) -%} approx_percentile({{ expr }}, {{ q }}) {%- endmacro %}

{#- First 16 hex digits of the MD5 of a string (a stable short id). -#}
{% macro fp_short_hash(expr) -%}
  {{ return(adapter.dispatch('fp_short_hash', 'fraud_pipeline')(expr)) }}
{%- endmacro %}
{% macro default__fp_short_hash(expr) -%} substr(md5({{ expr }}), 1, 16) {%- endmacro %}
{% macro athena__fp_short_hash(expr) -%} lower(substr(to_hex(md5(to_utf8({{ expr }}))), 1, 16)) {%- endmacro %}

{#- Every run of whitespace replaced by one space. -#}
{% macro fp_squash_spaces(expr) -%}
  {{ return(adapter.dispatch('fp_squash_spaces', 'fraud_pipeline')(expr)) }}
{%- endmacro %}
{% macro default__fp_squash_spaces(expr) -%} regexp_replace({{ expr }}, '\s+', ' ', 'g') {%- endmacro %}
{% macro athena__fp_squash_spaces(expr) -%} regexp_replace({{ expr }}, '\s+', ' ') {%- endmacro %}

{#- A naive UTC timestamp from microseconds since the epoch. -#}
{% macro fp_timestamp_us(expr) -%}
  {{ return(adapter.dispatch('fp_timestamp_us', 'fraud_pipeline')(expr)) }}
{%- endmacro %}
{% macro default__fp_timestamp_us(expr) -%} make_timestamp({{ expr }}) {%- endmacro %}
{% macro athena__fp_timestamp_us(expr) -%}
  cast(from_unixtime({{ expr }} / 1e6) at time zone 'UTC' as timestamp)
{%- endmacro %}

{#- The arrival hour from the lake's partition columns (DuckDB: dt DATE, hour INTEGER; Glue: strings). -#}
{% macro fp_arrival_hour() -%}
  {{ return(adapter.dispatch('fp_arrival_hour', 'fraud_pipeline')()) }}
{%- endmacro %}
{% macro default__fp_arrival_hour() -%} make_timestamp(year(dt), month(dt), day(dt), hour, 0, 0) {%- endmacro %}
{% macro athena__fp_arrival_hour() -%}
  date_add('hour', cast(hour as integer), cast(date_parse(dt, '%Y-%m-%d') as timestamp))
{%- endmacro %}

{#- One partition of the lake, as a filter on its partition columns. -#}
{% macro fp_partition(h) -%}
  {{ return(adapter.dispatch('fp_partition', 'fraud_pipeline')(h)) }}
{%- endmacro %}
{% macro default__fp_partition(h) -%} (dt = date '{{ h[:10] }}' and hour = {{ h[11:13] | int }}) {%- endmacro %}
{% macro athena__fp_partition(h) -%} (dt = '{{ h[:10] }}' and hour = '{{ h[11:13] }}') {%- endmacro %}

{#- The ten score buckets 0..9 as rows of `bucket`. -#}
{% macro fp_buckets() -%}
  {{ return(adapter.dispatch('fp_buckets', 'fraud_pipeline')()) }}
{%- endmacro %}
{% macro default__fp_buckets() -%} range(10) b(bucket) {%- endmacro %}
{% macro athena__fp_buckets() -%} unnest(sequence(0, 9)) as b(bucket) {%- endmacro %}

{#- A window frame: the `hours` hours before the current row's timestamp, excluding it. -#}
{% macro fp_trailing_hours(hours) -%}
  {{ return(adapter.dispatch('fp_trailing_hours', 'fraud_pipeline')(hours)) }}
{%- endmacro %}
{% macro default__fp_trailing_hours(hours) -%}
  range between interval {{ hours }} hours preceding and interval 1 microsecond preceding
{%- endmacro %}
{% macro athena__fp_trailing_hours(hours) -%}
  range between interval '{{ hours }}' hour preceding and interval '0.001' second preceding
{%- endmacro %}

{#- Replace a small bookkeeping table with the result of `sql` (a pre-hook helper). -#}
{% macro fp_replace_table(relation, sql) -%}
  {{ return(adapter.dispatch('fp_replace_table', 'fraud_pipeline')(relation, sql)) }}
{%- endmacro %}
{% macro default__fp_replace_table(relation, sql) -%}
  {% do run_query("create or replace table " ~ relation ~ " as " ~ sql) %}
{%- endmacro %}
{% macro athena__fp_replace_table(relation, sql) -%}
  {% do run_query("drop table if exists " ~ relation.render_hive()) %}
  {% do run_query(
      "create table " ~ relation ~ " with (table_type = 'ICEBERG', is_external = false, location = '"
      ~ target.s3_data_dir ~ relation.identifier ~ "/" ~ invocation_id ~ "') as " ~ sql) %}
{%- endmacro %}

{#- Whether an array holds a value. -#}
{% macro fp_contains(array, value) -%}
  {{ return(adapter.dispatch('fp_contains', 'fraud_pipeline')(array, value)) }}
{%- endmacro %}
{% macro default__fp_contains(array, value) -%} list_contains({{ array }}, {{ value }}) {%- endmacro %}
{% macro athena__fp_contains(array, value) -%} contains({{ array }}, {{ value }}) {%- endmacro %}
