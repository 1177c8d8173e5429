# The scoring Lambda and its Kinesis event source mapping.
# Shared by every environment: live/<env>/lambda/terragrunt.hcl includes this file, and what
# differs between environments comes from live/<env>/env.hcl.
locals {
  env   = read_terragrunt_config(find_in_parent_folders("env.hcl")).locals
  mocks = read_terragrunt_config(find_in_parent_folders("mock_outputs.hcl")).locals

  # Every resource name reaches the code as its settings variable (fraud_pipeline.settings.env_var_names():
  # FRAUD_PIPELINE_<FIELD>), so the names the code looks for are the ones Terraform creates.
  settings_environment = merge(
    { for field, name in local.env.names : "FRAUD_PIPELINE_${upper(field)}" => name },
    { FRAUD_PIPELINE_ENV = local.env.env, FRAUD_PIPELINE_BACKEND = "aws", FRAUD_PIPELINE_AWS_REGION = local.env.aws_region },
  )
}

terraform {
  source = "${get_repo_root()}/infra/modules//lambda"
}

dependency "kms" {
  config_path                             = "${get_terragrunt_dir()}/../kms"
  mock_outputs                            = local.mocks.kms
  mock_outputs_allowed_terraform_commands = local.mocks.allowed_commands
}

dependency "vpc" {
  config_path                             = "${get_terragrunt_dir()}/../vpc"
  mock_outputs                            = local.mocks.vpc
  mock_outputs_allowed_terraform_commands = local.mocks.allowed_commands
}

dependency "s3" {
  config_path                             = "${get_terragrunt_dir()}/../s3"
  mock_outputs                            = local.mocks.s3
  mock_outputs_allowed_terraform_commands = local.mocks.allowed_commands
}

dependency "ecr" {
  config_path                             = "${get_terragrunt_dir()}/../ecr"
  mock_outputs                            = local.mocks.ecr
  mock_outputs_allowed_terraform_commands = local.mocks.allowed_commands
}

dependency "kinesis_tagged" {
  config_path                             = "${get_terragrunt_dir()}/../kinesis_tagged"
  mock_outputs                            = local.mocks.kinesis_tagged
  mock_outputs_allowed_terraform_commands = local.mocks.allowed_commands
}

dependency "kinesis_untagged" {
  config_path                             = "${get_terragrunt_dir()}/../kinesis_untagged"
  mock_outputs                            = local.mocks.kinesis_untagged
  mock_outputs_allowed_terraform_commands = local.mocks.allowed_commands
}

dependency "dynamodb" {
  config_path                             = "${get_terragrunt_dir()}/../dynamodb"
  mock_outputs                            = local.mocks.dynamodb
  mock_outputs_allowed_terraform_commands = local.mocks.allowed_commands
}

dependency "sagemaker_text" {
  config_path                             = "${get_terragrunt_dir()}/../sagemaker_text"
  mock_outputs                            = local.mocks.sagemaker_text
  mock_outputs_allowed_terraform_commands = local.mocks.allowed_commands
}

dependency "sagemaker_media" {
  config_path                             = "${get_terragrunt_dir()}/../sagemaker_media"
  mock_outputs                            = local.mocks.sagemaker_media
  mock_outputs_allowed_terraform_commands = local.mocks.allowed_commands
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
    FRAUD_PIPELINE_MEDIA_IMAGES     = local.env.media_images
  })
  memory_mb               = local.env.lambda_memory_mb
  reserved_concurrency    = local.env.lambda_concurrency
  parallelization_factor  = local.env.parallelization_factor
  source_stream_arn       = dependency.kinesis_untagged.outputs.stream_arn
  tagged_stream_arn       = dependency.kinesis_tagged.outputs.stream_arn
  bucket_arn              = dependency.s3.outputs.bucket_arn
  errors_prefix           = local.env.prefixes.errors_prefix
  models_prefix           = local.env.prefixes.models_prefix
  policy_prefix           = local.env.prefixes.policy_prefix
  media_prefix            = local.env.prefixes.media_prefix
  state_table_arn         = dependency.dynamodb.outputs.table_arn
  sagemaker_endpoint_arns = [dependency.sagemaker_text.outputs.endpoint_arn, dependency.sagemaker_media.outputs.endpoint_arn]
  metric_namespace        = local.env.names.metric_namespace
  kms_key_arn             = dependency.kms.outputs.key_arn
  vpc_id                  = dependency.vpc.outputs.vpc_id
  subnet_ids              = dependency.vpc.outputs.private_subnet_ids
  failure_queue_name      = local.env.scoring_dlq
}
