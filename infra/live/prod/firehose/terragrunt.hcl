# Tagged stream -> Parquet under posts/YYYY/MM/DD/HH/, converted with the Glue table.
include "root" {
  path = find_in_parent_folders()
}

locals {
  env = read_terragrunt_config(find_in_parent_folders("env.hcl")).locals
}

terraform {
  source = "${get_repo_root()}/infra/modules//kinesis_firehose"
}

dependency "kms" {
  config_path                             = "../kms"
  mock_outputs                            = { key_arn = "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000", key_id = "00000000-0000-0000-0000-000000000000" }
  mock_outputs_allowed_terraform_commands = ["init", "validate", "plan"]
}

dependency "kinesis_tagged" {
  config_path                             = "../kinesis_tagged"
  mock_outputs                            = { stream_name = "mock-tagged", stream_arn = "arn:aws:kinesis:us-east-1:000000000000:stream/mock-tagged" }
  mock_outputs_allowed_terraform_commands = ["init", "validate", "plan"]
}

dependency "s3" {
  config_path                             = "../s3"
  mock_outputs                            = { bucket_name = "mock-bucket", bucket_arn = "arn:aws:s3:::mock-bucket" }
  mock_outputs_allowed_terraform_commands = ["init", "validate", "plan"]
}

dependency "glue" {
  config_path                             = "../glue"
  mock_outputs                            = { database_name = "mock_db", raw_table_name = "posts", compacted_table_name = "posts_compacted", database_arn = "arn:aws:glue:us-east-1:000000000000:database/mock_db", raw_table_arn = "arn:aws:glue:us-east-1:000000000000:table/mock_db/posts", compacted_table_arn = "arn:aws:glue:us-east-1:000000000000:table/mock_db/posts_compacted" }
  mock_outputs_allowed_terraform_commands = ["init", "validate", "plan"]
}

inputs = {
  name              = local.env.names.delivery_stream
  source_stream_arn = dependency.kinesis_tagged.outputs.stream_arn
  bucket_arn        = dependency.s3.outputs.bucket_arn
  posts_prefix      = local.env.prefixes.posts_prefix
  errors_prefix     = local.env.prefixes.errors_prefix
  glue_database     = dependency.glue.outputs.database_name
  glue_table        = dependency.glue.outputs.raw_table_name
  kms_key_arn       = dependency.kms.outputs.key_arn
}
