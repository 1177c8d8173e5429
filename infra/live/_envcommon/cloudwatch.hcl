# Dashboard (body generated from fraud_pipeline/dashboard/widgets.py into dashboard.json beside this
# file: `python -m fraud_pipeline.dashboard.widgets --env <env> --output dashboard.json`) and alarms
# (the fraud-rate alarm's settings generated from the detection policy into fraud_rate_alarm.json:
# `python -m fraud_pipeline.policy.alarm --output fraud_rate_alarm.json`; the media alarm's from the
# policy's media section into media_unavailable_alarm.json:
# `python -m fraud_pipeline.media.alarm --output media_unavailable_alarm.json`).
# Shared by every environment: live/<env>/cloudwatch/terragrunt.hcl includes this file, and what
# differs between environments comes from live/<env>/env.hcl.
locals {
  env   = read_terragrunt_config(find_in_parent_folders("env.hcl")).locals
  mocks = read_terragrunt_config(find_in_parent_folders("mock_outputs.hcl")).locals
}

terraform {
  source = "${get_repo_root()}/infra/modules//cloudwatch"
}

dependency "kms" {
  config_path                             = "${get_terragrunt_dir()}/../kms"
  mock_outputs                            = local.mocks.kms
  mock_outputs_allowed_terraform_commands = local.mocks.allowed_commands
}

dependency "lambda" {
  config_path                             = "${get_terragrunt_dir()}/../lambda"
  mock_outputs                            = local.mocks.lambda
  mock_outputs_allowed_terraform_commands = local.mocks.allowed_commands
}

inputs = {
  dashboard_name          = local.env.prefix
  dashboard_body          = file("${get_terragrunt_dir()}/dashboard.json")
  fraud_rate_alarm        = jsondecode(file("${get_terragrunt_dir()}/fraud_rate_alarm.json"))
  media_unavailable_alarm = jsondecode(file("${get_terragrunt_dir()}/media_unavailable_alarm.json"))
  metric_namespace        = local.env.names.metric_namespace
  scoring_function        = dependency.lambda.outputs.function_name
  failure_queue_name      = dependency.lambda.outputs.failure_queue_name
  kms_key_arn             = dependency.kms.outputs.key_arn
  alarm_emails            = local.env.alarm_emails
}
