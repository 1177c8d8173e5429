# Image repositories: lambda, ingest, dagster, inference.
# Shared by every environment: live/<env>/ecr/terragrunt.hcl includes this file, and what
# differs between environments comes from live/<env>/env.hcl.
locals {
  env   = read_terragrunt_config(find_in_parent_folders("env.hcl")).locals
  mocks = read_terragrunt_config(find_in_parent_folders("mock_outputs.hcl")).locals
}

terraform {
  source = "${get_repo_root()}/infra/modules//ecr"
}

dependency "kms" {
  config_path                             = "${get_terragrunt_dir()}/../kms"
  mock_outputs                            = local.mocks.kms
  mock_outputs_allowed_terraform_commands = local.mocks.allowed_commands
}

inputs = {
  prefix       = local.env.prefix
  repositories = ["lambda", "ingest", "dagster", "inference"]
  kms_key_arn  = dependency.kms.outputs.key_arn
  force_delete = local.env.force_destroy
}
