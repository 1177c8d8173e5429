# The lake bucket (and its access-log bucket).
include "root" {
  path = find_in_parent_folders()
}

locals {
  env = read_terragrunt_config(find_in_parent_folders("env.hcl")).locals
}

terraform {
  source = "${get_repo_root()}/infra/modules//s3"
}

dependency "kms" {
  config_path                             = "../kms"
  mock_outputs                            = { key_arn = "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000", key_id = "00000000-0000-0000-0000-000000000000" }
  mock_outputs_allowed_terraform_commands = ["init", "validate", "plan"]
}

inputs = {
  bucket_name   = local.env.names.bucket
  kms_key_arn   = dependency.kms.outputs.key_arn
  force_destroy = local.env.force_destroy
  posts_prefix  = local.env.prefixes.posts_prefix
  media_prefix  = local.env.prefixes.media_prefix
  errors_prefix = local.env.prefixes.errors_prefix
}
