{#- The seed's six counters from flagged posts (the scorer emits the same to CloudWatch). -#}
{% macro seed_counters() %}
    count(*) as post_processed,
    count(*) filter (where not has_media) as post_text_only,
    count(*) filter (where is_fraud) as post_is_fraud,
    count(*) filter (where is_fraud_text and is_fraud_media) as post_fraud_both,
    count(*) filter (where is_fraud_media) as post_fraud_media,
    count(*) filter (where is_fraud_text) as post_fraud_text
{% endmacro %}

{#- The series the seed's dashboard derives with metric math, and its percentages. -#}
{% macro seed_derived() %}
    post_processed - post_text_only as post_with_media,
    post_processed - post_is_fraud as post_not_fraud,
    post_fraud_media - post_fraud_both as post_fraud_media_only,
    post_fraud_text - post_fraud_both as post_fraud_text_only,
    round(100.0 * post_is_fraud / nullif(post_processed, 0), 3) as pct_fraud,
    round(100.0 * (post_processed - post_text_only) / nullif(post_processed, 0), 3) as pct_with_media,
    round(100.0 * (post_fraud_media - post_fraud_both) / nullif(post_processed, 0), 3) as pct_fraud_media_only,
    round(100.0 * (post_fraud_text - post_fraud_both) / nullif(post_processed, 0), 3) as pct_fraud_text_only,
    round(100.0 * post_fraud_both / nullif(post_processed, 0), 3) as pct_fraud_both
{% endmacro %}
