# Checkpoints and counters.
# Shared by every environment: live/<env>/dynamodb/terragrunt.hcl includes this file, and what
# differs between environments comes from live/<env>/env.hcl.
locals {
  env   = read_terragrunt_config(find_in_parent_folders("env.hcl")).locals
  mocks = read_terragrunt_config(find_in_parent_folders("mock_outputs.hcl")).locals
}

terraform {
  source = "${get_repo_root()}/infra/modules//dynamodb"
}

dependency "kms" {
  config_path                             = "${get_terragrunt_dir()}/../kms"
  mock_outputs                            = local.mocks.kms
  mock_outputs_allowed_terraform_commands = local.mocks.allowed_commands
}

inputs = {
  table_name          = local.env.names.state_table
  kms_key_arn         = dependency.kms.outputs.key_arn
  deletion_protection = local.env.deletion_protection
}
