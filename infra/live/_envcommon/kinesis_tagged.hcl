# The tagged stream.
# Shared by every environment: live/<env>/kinesis_tagged/terragrunt.hcl includes this file, and what
# differs between environments comes from live/<env>/env.hcl.
locals {
  env   = read_terragrunt_config(find_in_parent_folders("env.hcl")).locals
  mocks = read_terragrunt_config(find_in_parent_folders("mock_outputs.hcl")).locals
}

terraform {
  source = "${get_repo_root()}/infra/modules//kinesis_stream"
}

dependency "kms" {
  config_path                             = "${get_terragrunt_dir()}/../kms"
  mock_outputs                            = local.mocks.kms
  mock_outputs_allowed_terraform_commands = local.mocks.allowed_commands
}

inputs = {
  name            = local.env.names.tagged_stream
  stream_mode     = local.env.stream_mode
  shard_count     = local.env.shard_count
  retention_hours = local.env.stream_retention_hours
  kms_key_arn     = dependency.kms.outputs.key_arn
}
