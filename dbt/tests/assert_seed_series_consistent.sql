-- Derived series can never be negative and the split must add up to the processed count.
select *
from {{ ref('seed_metrics_per_minute') }}
where post_with_media + post_text_only <> post_processed
   or post_not_fraud + post_is_fraud <> post_processed
   or post_fraud_media_only < 0
   or post_fraud_text_only < 0
   or post_fraud_both > least(post_fraud_media, post_fraud_text)
