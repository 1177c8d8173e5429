# Glue database, raw table (partition projection) and compacted table; columns from records.py.
# Shared by every environment: live/<env>/glue/terragrunt.hcl includes this file, and what
# differs between environments comes from live/<env>/env.hcl.
locals {
  env   = read_terragrunt_config(find_in_parent_folders("env.hcl")).locals
  mocks = read_terragrunt_config(find_in_parent_folders("mock_outputs.hcl")).locals
}

terraform {
  source = "${get_repo_root()}/infra/modules//glue"
}

dependency "kms" {
  config_path                             = "${get_terragrunt_dir()}/../kms"
  mock_outputs                            = local.mocks.kms
  mock_outputs_allowed_terraform_commands = local.mocks.allowed_commands
}

inputs = {
  database_name        = local.env.names.glue_database
  raw_table_name       = local.env.names.glue_table
  compacted_table_name = local.env.names.glue_compacted_table
  bucket_name          = local.env.names.bucket
  posts_prefix         = local.env.prefixes.posts_prefix
  compacted_prefix     = local.env.prefixes.compacted_prefix
  kms_key_arn          = dependency.kms.outputs.key_arn
}
