# Everything that differs between environments. `names` must equal
# fraud_pipeline.settings.Settings.default_names("prod") (tests/test_infra_live.py keeps them equal),
# so Terraform creates exactly the resources the code looks for.
locals {
  env        = "prod"
  prefix     = "fraud-detect-prod"
  aws_region = "us-east-1"

  names = {
    untagged_stream      = "fraud-detect-prod-untagged-stream"
    tagged_stream        = "fraud-detect-prod-tagged-stream"
    bucket               = "fraud-detect-prod-lake"
    glue_database        = "fraud_detect_prod"
    glue_table           = "posts"
    glue_compacted_table = "posts_compacted"
    metric_namespace     = "fraud-detect-prod"
    state_table          = "fraud-detect-prod-state"
    text_endpoint        = "fraud-detect-prod-text-model"
    media_endpoint       = "fraud-detect-prod-media-model"
    delivery_stream      = "fraud-detect-prod-tagged-delivery"
    athena_workgroup     = "fraud-detect-prod-analytics"
    athena_database      = "fraud_detect_prod_marts"
  }

  # Object-store prefixes: the settings module's defaults.
  prefixes = {
    posts_prefix          = "posts/"
    compacted_prefix      = "compacted/"
    media_prefix          = "media/"
    errors_prefix         = "errors/"
    models_prefix         = "models/"
    policy_prefix         = "policy/"
    labels_prefix         = "labels/"
    accounts_prefix       = "accounts/"
    athena_results_prefix = "athena-results/"
    marts_prefix          = "marts/"
  }

  # Names only infrastructure needs; the dashboard spec uses the same (widgets.resource_names).
  scoring_function = "fraud-detect-prod-scoring"
  scoring_dlq      = "fraud-detect-prod-scoring-failures"
  ingest_service   = "fraud-detect-prod-ingest"
  dagster_name     = "fraud-detect-prod-dagster"
  labeler_service  = "fraud-detect-prod-labeler"

  # The labeler (did:web:<labeler_domain>): its public name, the ACM certificate for it and the
  # hosted zone (empty: DNS managed elsewhere) come from the operator; the placeholders are fake.
  labeler_domain          = get_env("FRAUD_LABELER_DOMAIN", "labeler.prod.example.invalid")
  labeler_certificate_arn = get_env("FRAUD_LABELER_CERTIFICATE_ARN", "arn:aws:acm:us-east-1:000000000000:certificate/00000000-0000-0000-0000-000000000000")
  labeler_zone_id         = get_env("FRAUD_LABELER_ZONE_ID", "")
  labeler_service_count   = 2
  # Alarm thresholds: the worker's lag (settings.max_consumer_lag_s) and labels per 5 minutes.
  labeler_max_lag_s          = 60
  labeler_max_labels_per_5min = 50000

  # Network.
  vpc_cidr           = "10.50.0.0/16"
  availability_zones = ["us-east-1a", "us-east-1b", "us-east-1c"]
  single_nat_gateway = false

  # Account events on the untagged stream (FRAUD_PIPELINE_INGEST_ACCOUNTS: on | off): off until
  # their DynamoDB cost comes down; docs/cost.md measures it (+60% to +214% of prod's bill).
  ingest_accounts = "off"

  # The scoring Lambda reads the pixels of the images posts show (FRAUD_PIPELINE_MEDIA_IMAGES:
  # on | off; docs/media.md): it fetches each blob from the CDN within the batch's budget and
  # sends the bytes to the media endpoint (OCR, QR codes, known scam images run there).
  media_images = "on"

  # Sizing and safety: prod is provisioned, multi-AZ and protected from deletion.
  stream_mode            = "PROVISIONED"
  shard_count            = 4
  stream_retention_hours = 168
  lambda_memory_mb       = 2048
  lambda_concurrency     = 16
  parallelization_factor = 4
  endpoint_instance_type = "ml.m5.large"
  endpoint_min_instances = 1
  endpoint_max_instances = 6
  db_instance_class      = "db.t4g.small"
  db_multi_az            = true
  deletion_protection    = true
  force_destroy          = false
  alarm_emails           = []

  # Engine of the marts and `query` on AWS: "duckdb" in the Dagster task, or "athena" (see
  # docs/orchestration.md, "When to switch to Athena"). Athena's scan limit per query, bytes.
  analytics_engine            = "duckdb"
  athena_bytes_scanned_cutoff = 1099511627776 # 1 TiB

  # Images and models: CI sets these from the image build (immutable tags) and the model registry.
  image_tag         = get_env("FRAUD_IMAGE_TAG", "bootstrap")
  text_model_data   = get_env("FRAUD_TEXT_MODEL_DATA", "s3://fraud-detect-prod-lake/models/text/bootstrap/model.tar.gz")
  media_model_data  = get_env("FRAUD_MEDIA_MODEL_DATA", "s3://fraud-detect-prod-lake/models/media/bootstrap/model.tar.gz")
}
