# The labeler: labels worker (tagged stream -> signed labels in Postgres) and the public labeler
# service (subscribeLabels, queryLabels, did.json) behind an HTTPS load balancer.
# Shared by every environment: live/<env>/labeler/terragrunt.hcl includes this file, and what
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
  source = "${get_repo_root()}/infra/modules//labeler"
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

dependency "dynamodb" {
  config_path                             = "${get_terragrunt_dir()}/../dynamodb"
  mock_outputs                            = local.mocks.dynamodb
  mock_outputs_allowed_terraform_commands = local.mocks.allowed_commands
}

dependency "dagster" {
  config_path                             = "${get_terragrunt_dir()}/../dagster"
  mock_outputs                            = local.mocks.dagster
  mock_outputs_allowed_terraform_commands = local.mocks.allowed_commands
}

dependency "cloudwatch" {
  config_path                             = "${get_terragrunt_dir()}/../cloudwatch"
  mock_outputs                            = local.mocks.cloudwatch
  mock_outputs_allowed_terraform_commands = local.mocks.allowed_commands
}

inputs = {
  name                    = local.env.labeler_service
  image_uri               = "${dependency.ecr.outputs.repository_urls["ingest"]}:${local.env.image_tag}"
  ecr_repository_arn      = dependency.ecr.outputs.repository_arns["ingest"]
  environment = merge(local.settings_environment, {
    FRAUD_PIPELINE_HOME = "/scratch/fraud-pipeline"
  })
  domain_name             = local.env.labeler_domain
  certificate_arn         = local.env.labeler_certificate_arn
  route53_zone_id         = local.env.labeler_zone_id
  service_count           = local.env.labeler_service_count
  vpc_id                  = dependency.vpc.outputs.vpc_id
  public_subnet_ids       = dependency.vpc.outputs.public_subnet_ids
  private_subnet_ids      = dependency.vpc.outputs.private_subnet_ids
  tagged_stream_arn       = dependency.kinesis_tagged.outputs.stream_arn
  state_table_arn         = dependency.dynamodb.outputs.table_arn
  bucket_arn              = dependency.s3.outputs.bucket_arn
  s3_write_prefixes       = [local.env.prefixes.labels_prefix, local.env.prefixes.errors_prefix]
  s3_read_prefixes        = [local.env.prefixes.policy_prefix]
  db_address              = dependency.dagster.outputs.db_address
  db_name                 = dependency.dagster.outputs.db_name
  db_username             = dependency.dagster.outputs.db_username
  db_secret_arn           = dependency.dagster.outputs.db_secret_arn
  db_security_group_id    = dependency.dagster.outputs.db_security_group_id
  signing_key_secret_name = "${local.env.prefix}-labeler-signing-key"
  metric_namespace        = local.env.names.metric_namespace
  max_lag_s               = local.env.labeler_max_lag_s
  max_labels_per_5min     = local.env.labeler_max_labels_per_5min
  alarm_topic_arn         = dependency.cloudwatch.outputs.alarm_topic_arn
  kms_key_arn             = dependency.kms.outputs.key_arn
  deletion_protection     = local.env.deletion_protection
}
