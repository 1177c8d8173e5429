# The untagged stream.
include "root" {
  path = find_in_parent_folders()
}

locals {
  env = read_terragrunt_config(find_in_parent_folders("env.hcl")).locals
}

terraform {
  source = "${get_repo_root()}/infra/modules//kinesis_stream"
}

dependency "kms" {
  config_path                             = "../kms"
  mock_outputs                            = { key_arn = "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000", key_id = "00000000-0000-0000-0000-000000000000" }
  mock_outputs_allowed_terraform_commands = ["init", "validate", "plan"]
}

inputs = {
  name            = local.env.names.untagged_stream
  stream_mode     = local.env.stream_mode
  shard_count     = local.env.shard_count
  retention_hours = local.env.stream_retention_hours
  kms_key_arn     = dependency.kms.outputs.key_arn
}
