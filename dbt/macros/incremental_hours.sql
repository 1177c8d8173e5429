{#
  Incremental marts recompute only the arrival hours a build was told about: DBT_MART_HOURS, a
  list of 'YYYY-MM-DD HH' strings that Dagster passes from the partitions its run compacted
  or that compaction rewrote (a late tombstone rewrites an old hour). Without the var an
  incremental build recomputes every hour (correct, just not fast).

  Per-hour models delete their affected hours and append them again. All-time models keyed by
  something else (a second, a minute, an account, a campaign) are rebuilt only for the keys the
  affected hours touch, old and new: the per-hour intermediate records its old keys in
  `<model>__touched` (pre-hook, before its delete), and the all-time model recomputes exactly
  those keys plus the new ones from the intermediate.
#}

{#- The posts an incremental model reads (stg_posts' columns): only the affected hours' files
    (macros/lake_posts.sql), or all of stg_posts in a full build. -#}
{% macro affected_posts() -%}
  {%- set hours = recompute_hours() if is_incremental() else none -%}
  {%- if hours is none -%} {{ ref('stg_posts') }}
  {%- else -%} ({{ stg_posts_select(lake_posts(hours)) }})
  {%- endif -%}
{%- endmacro %}

{#- Filter on the lake's hive partition columns (dt, hour): DuckDB prunes the files. -#}
{% macro affected_partitions() -%}
  {%- if not is_incremental() -%} true {%- else -%} {{ lake_hours_filter() }} {%- endif -%}
{%- endmacro %}

{#- Filter on an arrival-hour timestamp column of a model. -#}
{% macro affected_hours(column='arrival_hour') -%}
  {%- set hours = recompute_hours() -%}
  {%- if hours is none -%} true
  {%- elif hours | length == 0 -%} false
  {%- else -%}
    {{ column }} in ({%- for h in hours %}timestamp '{{ h[:10] }} {{ h[11:13] }}:00:00'{% if not loop.last %}, {% endif %}{% endfor -%})
  {%- endif -%}
{%- endmacro %}

{#- Pre-hook of a per-hour model: forget the affected hours (they are appended again). -#}
{% macro delete_affected_hours() -%}
  {%- if is_incremental() -%}
    delete from {{ this }} where {{ affected_hours('arrival_hour') }}
  {%- else -%}
    select 1
  {%- endif -%}
{%- endmacro %}

{#- Pre-hooks of a per-hour intermediate: record the keys the affected hours held, then forget them. -#}
{% macro record_touched_and_delete(key, key_type) -%}
  {%- set touched = this.incorporate(path={"identifier": this.identifier ~ "__touched"}) -%}
  {%- if not execute -%}
    select 1
  {%- elif is_incremental() -%}
    {%- do fp_replace_table(touched, "select distinct " ~ key ~ " from " ~ this ~ " where " ~ affected_hours('arrival_hour')) -%}
    delete from {{ this }} where {{ affected_hours('arrival_hour') }}
  {%- else -%}
    {%- do fp_replace_table(touched, "select cast(null as " ~ key_type ~ ") as " ~ key ~ " where false") -%}
    select 1
  {%- endif -%}
{%- endmacro %}

{#- The keys an all-time model recomputes: those the intermediate's affected hours held before
    this build (recorded by its pre-hook) and hold now. `expr` maps the intermediate's key. -#}
{% macro touched_keys(intermediate, key, expr=none) -%}
  {%- set relation = ref(intermediate) -%}
  {%- set touched = relation.incorporate(path={"identifier": relation.identifier ~ "__touched"}) -%}
  {%- set expr = expr or key -%}
  select {{ expr }} as {{ key }} from {{ touched }}
  union
  select {{ expr }} as {{ key }} from {{ relation }} where {{ affected_hours('arrival_hour') }}
{%- endmacro %}

{#- Pre-hook of an all-time model: forget the keys it recomputes. -#}
{% macro delete_touched_keys(intermediate, key, expr=none) -%}
  {%- if is_incremental() -%}
    delete from {{ this }} where {{ key }} in ({{ touched_keys(intermediate, key, expr) }})
  {%- else -%}
    select 1
  {%- endif -%}
{%- endmacro %}

{#- Data tests over the lake check the hours this build recomputed (all hours without `hours`),
    so a build's tests scale with what it changed, not with the lake. -#}
{% macro lake_hours_filter() -%}
  {%- set hours = recompute_hours() -%}
  {%- if hours is none -%} true
  {%- elif hours | length == 0 -%} false
  {%- else -%}
    ({%- for h in hours %}{{ fp_partition(h) }}{% if not loop.last %} or {% endif %}{% endfor -%})
  {%- endif -%}
{%- endmacro %}

{#- dbt's documented hook for dynamic test filters: `where: "__recomputed_hours__"` becomes
    lake_hours_filter() when the test runs (project config cannot call macros). -#}
{% macro get_where_subquery(relation) -%}
  {%- set where = config.get('where', '') -%}
  {%- if where -%}
    {%- set where = where | replace('__recomputed_hours__', lake_hours_filter()) -%}
    {%- set filtered -%}
      (select * from {{ relation }} where {{ where }}) dbt_subquery
    {%- endset -%}
    {%- do return(filtered) -%}
  {%- else -%}
    {%- do return(relation) -%}
  {%- endif -%}
{%- endmacro %}

{#- The hours to recompute: DBT_MART_HOURS, a JSON list of 'YYYY-MM-DD HH' (unset: every hour).
    An environment variable, not a --vars value: dbt re-parses the whole project whenever
    --vars change, which alone costs more than refreshing one hour of marts. -#}
{% macro recompute_hours() -%}
  {#- Parsing never reads it: dbt re-parses every file that read an env var whose value changed. -#}
  {%- if not execute -%}
    {{ return(none) }}
  {%- endif -%}
  {%- set raw = env_var('DBT_MART_HOURS', '') -%}
  {%- if raw | trim == '' -%}
    {{ return(none) }}
  {%- endif -%}
  {{ return(fromjson(raw)) }}
{%- endmacro %}
