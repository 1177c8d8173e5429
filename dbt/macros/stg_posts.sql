{#
  The lake's posts as every mart counts them (the body of `stg_posts`), over any relation with
  the lake's columns: the whole lake for the view, or only the partitions a build recomputes.
  Verdicts are the scorer's own columns (no threshold is recomputed here): `fraud-text` /
  `fraud-media` labels mark a model reaching its policy operating point.
#}
{% macro stg_posts_select(posts) -%}
select
    uri,
    did,
    rkey,
    cid,
    text,
    langs,
    links,
    domains,
    mentions,
    tags,
    embed_kind,
    media_paths,
    media_kinds,
    {{ fp_len('media_paths') }} > 0 as has_media,
    {{ fp_timestamp_us('time_us') }} as event_at,
    coalesce({{ fp_timestamp_us('scored_at_us') }}, {{ fp_timestamp_us('time_us') }}) as scored_at,
    fraud_text_likelihood,
    fraud_media_likelihood,
    fraud_score,
    coalesce(is_fraud, false) as is_fraud,
    coalesce({{ fp_contains('labels', "'fraud-text'") }}, false) as is_fraud_text,
    coalesce({{ fp_len('media_paths') }} > 0 and {{ fp_contains('labels', "'fraud-media'") }}, false)
        as is_fraud_media,
    coalesce(action, case when is_fraud then 'review' else 'none' end) as action,
    policy_version,
    campaign_id,
    labels,
    reasons,
    rule_hits,
    text_model_version,
    media_model_version,
    case when scored_at_us > 0 and time_us > 0 then (scored_at_us - time_us) / 1000.0 end
        as end_to_end_ms,
    case when scored_at_us > 0 and ingested_at_us > 0 then (scored_at_us - ingested_at_us) / 1000.0 end
        as scoring_ms,
    dt,
    hour,
    {{ fp_arrival_hour() }} as arrival_hour
from {{ posts }}
{%- endmacro %}
