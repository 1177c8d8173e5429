# The lake bucket (and its access-log bucket).
# Shared by every environment: live/<env>/s3/terragrunt.hcl includes this file, and what
# differs between environments comes from live/<env>/env.hcl.
locals {
  env   = read_terragrunt_config(find_in_parent_folders("env.hcl")).locals
  mocks = read_terragrunt_config(find_in_parent_folders("mock_outputs.hcl")).locals
}

terraform {
  source = "${get_repo_root()}/infra/modules//s3"
}

dependency "kms" {
  config_path                             = "${get_terragrunt_dir()}/../kms"
  mock_outputs                            = local.mocks.kms
  mock_outputs_allowed_terraform_commands = local.mocks.allowed_commands
}

inputs = {
  bucket_name   = local.env.names.bucket
  kms_key_arn   = dependency.kms.outputs.key_arn
  force_destroy = local.env.force_destroy
  posts_prefix  = local.env.prefixes.posts_prefix
  media_prefix  = local.env.prefixes.media_prefix
  errors_prefix = local.env.prefixes.errors_prefix
}
