-- Per arrival hour and campaign (the scorer's `campaign_id`, the id in its `campaign:<id>`
-- label): posts, fraud posts, accounts (as a list), domains, first/last seen. No fingerprint
-- or bar here: the scorer applies the detection policy's, once.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ record_touched_and_delete('campaign_id', 'varchar') }}"
) }}
select
    arrival_hour,
    campaign_id,
    min(text) filter (where length(trim(text)) > 0) as sample_text,
    count(*) as posts,
    count(*) filter (where is_fraud) as fraud_posts,
    {{ fp_list_distinct('did') }} as dids,
    min(event_at) as first_seen,
    max(event_at) as last_seen,
    {{ fp_flat_distinct('domains') }} as domains
from {{ affected_posts() }}
where {{ affected_partitions() }} and campaign_id is not null
group by 1, 2
