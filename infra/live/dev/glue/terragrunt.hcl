# Glue database, raw table (partition projection) and compacted table; columns from records.py.
include "root" {
  path = find_in_parent_folders()
}

locals {
  env = read_terragrunt_config(find_in_parent_folders("env.hcl")).locals
}

terraform {
  source = "${get_repo_root()}/infra/modules//glue"
}

dependency "kms" {
  config_path                             = "../kms"
  mock_outputs                            = { key_arn = "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000", key_id = "00000000-0000-0000-0000-000000000000" }
  mock_outputs_allowed_terraform_commands = ["init", "validate", "plan"]
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
