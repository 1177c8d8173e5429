# Dagster: webserver, daemon and code location on ECS, EcsRunLauncher, Postgres on RDS.
# Shared by every environment: live/<env>/dagster/terragrunt.hcl includes this file, and what
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
  source = "${get_repo_root()}/infra/modules//dagster"
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

dependency "athena" {
  config_path                             = "${get_terragrunt_dir()}/../athena"
  mock_outputs                            = local.mocks.athena
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
  name                   = local.env.dagster_name
  image_uri              = "${dependency.ecr.outputs.repository_urls["dagster"]}:${local.env.image_tag}"
  ecr_repository_arn     = dependency.ecr.outputs.repository_arns["dagster"]
  code_module            = "fraud_pipeline.orchestration"
  webserver_allowed_cidr = dependency.vpc.outputs.vpc_cidr_block
  scratch_path           = "/scratch"
  environment = merge(local.settings_environment, {
    FRAUD_PIPELINE_HOME                  = "/scratch/fraud-pipeline"
    FRAUD_PIPELINE_ANALYTICS_ENGINE      = local.env.analytics_engine
    FRAUD_PIPELINE_ATHENA_RESULTS_PREFIX = local.env.prefixes.athena_results_prefix
    FRAUD_PIPELINE_MARTS_PREFIX          = local.env.prefixes.marts_prefix
  })
  vpc_id                  = dependency.vpc.outputs.vpc_id
  subnet_ids              = dependency.vpc.outputs.private_subnet_ids
  db_instance_class       = local.env.db_instance_class
  db_multi_az             = local.env.db_multi_az
  deletion_protection     = local.env.deletion_protection
  bucket_arn              = dependency.s3.outputs.bucket_arn
  s3_read_prefixes        = [local.env.prefixes.posts_prefix, local.env.prefixes.accounts_prefix, local.env.prefixes.compacted_prefix, local.env.prefixes.models_prefix, local.env.prefixes.errors_prefix, "${trimsuffix(local.env.prefixes.compacted_prefix, "/")}_meta/", local.env.prefixes.athena_results_prefix, local.env.prefixes.marts_prefix]
  s3_write_prefixes       = [local.env.prefixes.compacted_prefix, local.env.prefixes.models_prefix, local.env.prefixes.posts_prefix, "${trimsuffix(local.env.prefixes.compacted_prefix, "/")}_meta/", local.env.prefixes.athena_results_prefix, local.env.prefixes.marts_prefix]
  glue_database           = local.env.names.glue_database
  kinesis_stream_arns     = [dependency.kinesis_untagged.outputs.stream_arn, dependency.kinesis_tagged.outputs.stream_arn]
  sagemaker_endpoint_arns = [dependency.sagemaker_text.outputs.endpoint_arn, dependency.sagemaker_media.outputs.endpoint_arn]
  state_table_arn         = dependency.dynamodb.outputs.table_arn
  metric_namespace        = local.env.names.metric_namespace
  athena_workgroup_arn    = dependency.athena.outputs.workgroup_arn
  athena_database         = dependency.athena.outputs.marts_database_name
  kms_key_arn             = dependency.kms.outputs.key_arn
}
