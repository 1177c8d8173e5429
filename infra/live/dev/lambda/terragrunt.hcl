# The scoring Lambda and its Kinesis event source mapping.
include "root" {
  path = find_in_parent_folders()
}

locals {
  env = read_terragrunt_config(find_in_parent_folders("env.hcl")).locals

  # The settings module reads these (fraud_pipeline.settings.env_var_names()); names equal its defaults.
  settings_environment = {
    FRAUD_PIPELINE_ENV                  = local.env.env
    FRAUD_PIPELINE_BACKEND              = "aws"
    FRAUD_PIPELINE_AWS_REGION           = local.env.aws_region
    FRAUD_PIPELINE_UNTAGGED_STREAM      = local.env.names.untagged_stream
    FRAUD_PIPELINE_TAGGED_STREAM        = local.env.names.tagged_stream
    FRAUD_PIPELINE_BUCKET               = local.env.names.bucket
    FRAUD_PIPELINE_GLUE_DATABASE        = local.env.names.glue_database
    FRAUD_PIPELINE_GLUE_TABLE           = local.env.names.glue_table
    FRAUD_PIPELINE_GLUE_COMPACTED_TABLE = local.env.names.glue_compacted_table
    FRAUD_PIPELINE_METRIC_NAMESPACE     = local.env.names.metric_namespace
    FRAUD_PIPELINE_STATE_TABLE          = local.env.names.state_table
    FRAUD_PIPELINE_TEXT_ENDPOINT        = local.env.names.text_endpoint
    FRAUD_PIPELINE_MEDIA_ENDPOINT       = local.env.names.media_endpoint
    FRAUD_PIPELINE_DELIVERY_STREAM      = local.env.names.delivery_stream
  }
}

terraform {
  source = "${get_repo_root()}/infra/modules//lambda"
}

dependency "kms" {
  config_path                             = "../kms"
  mock_outputs                            = { key_arn = "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000", key_id = "00000000-0000-0000-0000-000000000000" }
  mock_outputs_allowed_terraform_commands = ["init", "validate", "plan"]
}

dependency "vpc" {
  config_path                             = "../vpc"
  mock_outputs                            = { vpc_id = "vpc-00000000000000000", vpc_cidr_block = "10.0.0.0/16", private_subnet_ids = ["subnet-00000000000000000", "subnet-00000000000000001"], public_subnet_ids = ["subnet-00000000000000002", "subnet-00000000000000003"] }
  mock_outputs_allowed_terraform_commands = ["init", "validate", "plan"]
}

dependency "s3" {
  config_path                             = "../s3"
  mock_outputs                            = { bucket_name = "mock-bucket", bucket_arn = "arn:aws:s3:::mock-bucket" }
  mock_outputs_allowed_terraform_commands = ["init", "validate", "plan"]
}

dependency "ecr" {
  config_path = "../ecr"
  mock_outputs = {
    repository_urls = { lambda = "000000000000.dkr.ecr.us-east-1.amazonaws.com/mock/lambda", ingest = "000000000000.dkr.ecr.us-east-1.amazonaws.com/mock/ingest", dagster = "000000000000.dkr.ecr.us-east-1.amazonaws.com/mock/dagster", inference = "000000000000.dkr.ecr.us-east-1.amazonaws.com/mock/inference" }
    repository_arns = { lambda = "arn:aws:ecr:us-east-1:000000000000:repository/mock/lambda", ingest = "arn:aws:ecr:us-east-1:000000000000:repository/mock/ingest", dagster = "arn:aws:ecr:us-east-1:000000000000:repository/mock/dagster", inference = "arn:aws:ecr:us-east-1:000000000000:repository/mock/inference" }
  }
  mock_outputs_allowed_terraform_commands = ["init", "validate", "plan"]
}

dependency "kinesis_tagged" {
  config_path                             = "../kinesis_tagged"
  mock_outputs                            = { stream_name = "mock-tagged", stream_arn = "arn:aws:kinesis:us-east-1:000000000000:stream/mock-tagged" }
  mock_outputs_allowed_terraform_commands = ["init", "validate", "plan"]
}

dependency "kinesis_untagged" {
  config_path                             = "../kinesis_untagged"
  mock_outputs                            = { stream_name = "mock-untagged", stream_arn = "arn:aws:kinesis:us-east-1:000000000000:stream/mock-untagged" }
  mock_outputs_allowed_terraform_commands = ["init", "validate", "plan"]
}

dependency "dynamodb" {
  config_path                             = "../dynamodb"
  mock_outputs                            = { table_name = "mock-table", table_arn = "arn:aws:dynamodb:us-east-1:000000000000:table/mock-table" }
  mock_outputs_allowed_terraform_commands = ["init", "validate", "plan"]
}

dependency "sagemaker_text" {
  config_path                             = "../sagemaker_text"
  mock_outputs                            = { endpoint_name = "mock-text", endpoint_arn = "arn:aws:sagemaker:us-east-1:000000000000:endpoint/mock-text" }
  mock_outputs_allowed_terraform_commands = ["init", "validate", "plan"]
}

dependency "sagemaker_media" {
  config_path                             = "../sagemaker_media"
  mock_outputs                            = { endpoint_name = "mock-media", endpoint_arn = "arn:aws:sagemaker:us-east-1:000000000000:endpoint/mock-media" }
  mock_outputs_allowed_terraform_commands = ["init", "validate", "plan"]
}

inputs = {
  function_name = local.env.scoring_function
  image_uri     = "${dependency.ecr.outputs.repository_urls["lambda"]}:${local.env.image_tag}"
  handler       = "fraud_pipeline.scoring.handler.handler"
  # Lambda's only writable path is /tmp.
  environment = merge(local.settings_environment, {
    FRAUD_PIPELINE_HOME             = "/tmp/fraud-pipeline"
    FRAUD_PIPELINE_TEXT_MODEL_MODE  = "sagemaker"
    FRAUD_PIPELINE_MEDIA_MODEL_MODE = "sagemaker"
  })
  memory_mb               = local.env.lambda_memory_mb
  reserved_concurrency    = local.env.lambda_concurrency
  parallelization_factor  = local.env.parallelization_factor
  source_stream_arn       = dependency.kinesis_untagged.outputs.stream_arn
  tagged_stream_arn       = dependency.kinesis_tagged.outputs.stream_arn
  bucket_arn              = dependency.s3.outputs.bucket_arn
  errors_prefix           = local.env.prefixes.errors_prefix
  models_prefix           = local.env.prefixes.models_prefix
  media_prefix            = local.env.prefixes.media_prefix
  state_table_arn         = dependency.dynamodb.outputs.table_arn
  sagemaker_endpoint_arns = [dependency.sagemaker_text.outputs.endpoint_arn, dependency.sagemaker_media.outputs.endpoint_arn]
  metric_namespace        = local.env.names.metric_namespace
  kms_key_arn             = dependency.kms.outputs.key_arn
  vpc_id                  = dependency.vpc.outputs.vpc_id
  subnet_ids              = dependency.vpc.outputs.private_subnet_ids
  failure_queue_name      = local.env.scoring_dlq
}
