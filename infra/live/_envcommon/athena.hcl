# Athena workgroup (results location, KMS encryption, bytes-scanned limit) and the marts database.
# Shared by every environment: live/<env>/athena/terragrunt.hcl includes this file, and what
# differs between environments comes from live/<env>/env.hcl.
locals {
  env   = read_terragrunt_config(find_in_parent_folders("env.hcl")).locals
  mocks = read_terragrunt_config(find_in_parent_folders("mock_outputs.hcl")).locals
}

terraform {
  source = "${get_repo_root()}/infra/modules//athena"
}

dependency "kms" {
  config_path                             = "${get_terragrunt_dir()}/../kms"
  mock_outputs                            = local.mocks.kms
  mock_outputs_allowed_terraform_commands = local.mocks.allowed_commands
}

dependency "s3" {
  config_path                             = "${get_terragrunt_dir()}/../s3"
  mock_outputs                            = local.mocks.s3
  mock_outputs_allowed_terraform_commands = local.mocks.allowed_commands
}

inputs = {
  workgroup_name                 = local.env.names.athena_workgroup
  marts_database_name            = local.env.names.athena_database
  bucket_name                    = dependency.s3.outputs.bucket_name
  results_prefix                 = local.env.prefixes.athena_results_prefix
  marts_prefix                   = local.env.prefixes.marts_prefix
  bytes_scanned_cutoff_per_query = local.env.athena_bytes_scanned_cutoff
  kms_key_arn                    = dependency.kms.outputs.key_arn
  force_destroy                  = local.env.force_destroy
}
