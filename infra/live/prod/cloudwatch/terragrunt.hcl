# Dashboard (body generated from fraud_pipeline/dashboard/widgets.py into dashboard.json beside this
# file: `python -m fraud_pipeline.dashboard.widgets --env <env> --output dashboard.json`) and alarms.
include "root" {
  path = find_in_parent_folders()
}

locals {
  env = read_terragrunt_config(find_in_parent_folders("env.hcl")).locals
}

terraform {
  source = "${get_repo_root()}/infra/modules//cloudwatch"
}

dependency "kms" {
  config_path                             = "../kms"
  mock_outputs                            = { key_arn = "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000", key_id = "00000000-0000-0000-0000-000000000000" }
  mock_outputs_allowed_terraform_commands = ["init", "validate", "plan"]
}

dependency "lambda" {
  config_path                             = "../lambda"
  mock_outputs                            = { function_name = "mock-scoring", function_arn = "arn:aws:lambda:us-east-1:000000000000:function:mock-scoring", failure_queue_name = "mock-failures", failure_queue_arn = "arn:aws:sqs:us-east-1:000000000000:mock-failures" }
  mock_outputs_allowed_terraform_commands = ["init", "validate", "plan"]
}

inputs = {
  dashboard_name     = local.env.prefix
  dashboard_body     = file("${get_terragrunt_dir()}/dashboard.json")
  metric_namespace   = local.env.names.metric_namespace
  scoring_function   = dependency.lambda.outputs.function_name
  failure_queue_name = dependency.lambda.outputs.failure_queue_name
  kms_key_arn        = dependency.kms.outputs.key_arn
  alarm_emails       = local.env.alarm_emails
}
