# Everything that differs between environments. `names` must equal
# fraud_pipeline.settings.Settings.default_names("dev") (tests/test_infra_live.py keeps them equal),
# so Terraform creates exactly the resources the code looks for.
locals {
  env        = "dev"
  prefix     = "fraud-detect-dev"
  aws_region = "us-east-1"

  names = {
    untagged_stream      = "fraud-detect-dev-untagged-stream"
    tagged_stream        = "fraud-detect-dev-tagged-stream"
    bucket               = "fraud-detect-dev-lake"
    glue_database        = "fraud_detect_dev"
    glue_table           = "posts"
    glue_compacted_table = "posts_compacted"
    metric_namespace     = "fraud-detect-dev"
    state_table          = "fraud-detect-dev-state"
    text_endpoint        = "fraud-detect-dev-text-model"
    media_endpoint       = "fraud-detect-dev-media-model"
    delivery_stream      = "fraud-detect-dev-tagged-delivery"
    athena_workgroup     = "fraud-detect-dev-analytics"
    athena_database      = "fraud_detect_dev_marts"
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
  scoring_function = "fraud-detect-dev-scoring"
  scoring_dlq      = "fraud-detect-dev-scoring-failures"
  ingest_service   = "fraud-detect-dev-ingest"
  dagster_name     = "fraud-detect-dev-dagster"
  labeler_service  = "fraud-detect-dev-labeler"

  # The labeler (did:web:<labeler_domain>): its public name, the ACM certificate for it and the
  # hosted zone (empty: DNS managed elsewhere) come from the operator; the placeholders are fake.
  labeler_domain          = get_env("FRAUD_LABELER_DOMAIN", "labeler.dev.example.invalid")
  labeler_certificate_arn = get_env("FRAUD_LABELER_CERTIFICATE_ARN", "arn:aws:acm:us-east-1:000000000000:certificate/00000000-0000-0000-0000-000000000000")
  labeler_zone_id         = get_env("FRAUD_LABELER_ZONE_ID", "")
  labeler_service_count   = 1
  # Alarm thresholds: the worker's lag (settings.max_consumer_lag_s) and labels per 5 minutes.
  labeler_max_lag_s          = 60
  labeler_max_labels_per_5min = 5000

  # Network.
  vpc_cidr           = "10.40.0.0/16"
  availability_zones = ["us-east-1a", "us-east-1b"]
  single_nat_gateway = true

  # Account events on the untagged stream (FRAUD_PIPELINE_INGEST_ACCOUNTS: on | off): off until
  # their DynamoDB cost comes down; docs/cost.md measures it (+60% to +214% of prod's bill).
  ingest_accounts = "off"

  # The scoring Lambda reads the pixels of the images posts show (FRAUD_PIPELINE_MEDIA_IMAGES:
  # on | off; docs/media.md): it fetches each blob from the CDN within the batch's budget and
  # sends the bytes to the media endpoint (OCR, QR codes, known scam images run there).
  media_images = "on"

  # Sizing and safety: dev is small and can be torn down.
  stream_mode            = "ON_DEMAND"
  shard_count            = 2
  stream_retention_hours = 24
  lambda_memory_mb       = 1024
  lambda_concurrency     = 10
  parallelization_factor = 2
  endpoint_instance_type = "ml.t2.medium"
  endpoint_min_instances = 1
  endpoint_max_instances = 2
  db_instance_class      = "db.t4g.micro"
  db_multi_az            = false
  deletion_protection    = false
  force_destroy          = true
  alarm_emails           = []

  # Engine of the marts and `query` on AWS: "duckdb" in the Dagster task, or "athena" (see
  # docs/orchestration.md, "When to switch to Athena"). Athena's scan limit per query, bytes.
  analytics_engine            = "duckdb"
  athena_bytes_scanned_cutoff = 10737418240 # 10 GiB

  # Images and models: CI sets these from the image build (immutable tags) and the model registry.
  image_tag         = get_env("FRAUD_IMAGE_TAG", "bootstrap")
  text_model_data   = get_env("FRAUD_TEXT_MODEL_DATA", "s3://fraud-detect-dev-lake/models/text/bootstrap/model.tar.gz")
  media_model_data  = get_env("FRAUD_MEDIA_MODEL_DATA", "s3://fraud-detect-dev-lake/models/media/bootstrap/model.tar.gz")
}
