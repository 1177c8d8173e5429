# Tagged stream -> Parquet under posts/YYYY/MM/DD/HH/, converted with the Glue table.
# Shared by every environment: live/<env>/firehose/terragrunt.hcl includes this file, and what
# differs between environments comes from live/<env>/env.hcl.
locals {
  env   = read_terragrunt_config(find_in_parent_folders("env.hcl")).locals
  mocks = read_terragrunt_config(find_in_parent_folders("mock_outputs.hcl")).locals
}

terraform {
  source = "${get_repo_root()}/infra/modules//kinesis_firehose"
}

dependency "kms" {
  config_path                             = "${get_terragrunt_dir()}/../kms"
  mock_outputs                            = local.mocks.kms
  mock_outputs_allowed_terraform_commands = local.mocks.allowed_commands
}

dependency "kinesis_tagged" {
  config_path                             = "${get_terragrunt_dir()}/../kinesis_tagged"
  mock_outputs                            = local.mocks.kinesis_tagged
  mock_outputs_allowed_terraform_commands = local.mocks.allowed_commands
}

dependency "s3" {
  config_path                             = "${get_terragrunt_dir()}/../s3"
  mock_outputs                            = local.mocks.s3
  mock_outputs_allowed_terraform_commands = local.mocks.allowed_commands
}

dependency "glue" {
  config_path                             = "${get_terragrunt_dir()}/../glue"
  mock_outputs                            = local.mocks.glue
  mock_outputs_allowed_terraform_commands = local.mocks.allowed_commands
}

inputs = {
  name              = local.env.names.delivery_stream
  source_stream_arn = dependency.kinesis_tagged.outputs.stream_arn
  bucket_arn        = dependency.s3.outputs.bucket_arn
  posts_prefix      = local.env.prefixes.posts_prefix
  accounts_prefix   = local.env.prefixes.accounts_prefix
  errors_prefix     = local.env.prefixes.errors_prefix
  glue_database     = dependency.glue.outputs.database_name
  glue_table        = dependency.glue.outputs.raw_table_name
  kms_key_arn       = dependency.kms.outputs.key_arn
}
