# The ingest task on Fargate: Jetstream -> the untagged stream, one writer.
# Shared by every environment: live/<env>/ingest/terragrunt.hcl includes this file, and what
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
  source = "${get_repo_root()}/infra/modules//ecs_service"
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

inputs = {
  name               = local.env.ingest_service
  image_uri          = "${dependency.ecr.outputs.repository_urls["ingest"]}:${local.env.image_tag}"
  ecr_repository_arn = dependency.ecr.outputs.repository_arns["ingest"]
  command            = ["ingest", "--source", "jetstream", "--backend", "aws"]
  scratch_path       = "/scratch"
  environment = merge(local.settings_environment, {
    FRAUD_PIPELINE_HOME            = "/scratch/fraud-pipeline"
    FRAUD_PIPELINE_INGEST_ACCOUNTS = local.env.ingest_accounts
  })
  vpc_id                    = dependency.vpc.outputs.vpc_id
  subnet_ids                = dependency.vpc.outputs.private_subnet_ids
  kinesis_write_stream_arns = [dependency.kinesis_untagged.outputs.stream_arn]
  state_table_arn           = dependency.dynamodb.outputs.table_arn
  bucket_arn                = dependency.s3.outputs.bucket_arn
  s3_write_prefixes         = [local.env.prefixes.errors_prefix, local.env.prefixes.media_prefix]
  metric_namespace          = local.env.names.metric_namespace
  kms_key_arn               = dependency.kms.outputs.key_arn
}
