# The media model's endpoint (model.tar.gz from models/ in the lake).
# Shared by every environment: live/<env>/sagemaker_media/terragrunt.hcl includes this file, and what
# differs between environments comes from live/<env>/env.hcl.
locals {
  env   = read_terragrunt_config(find_in_parent_folders("env.hcl")).locals
  mocks = read_terragrunt_config(find_in_parent_folders("mock_outputs.hcl")).locals
}

terraform {
  source = "${get_repo_root()}/infra/modules//sagemaker_endpoint"
}

dependency "kms" {
  config_path                             = "${get_terragrunt_dir()}/../kms"
  mock_outputs                            = local.mocks.kms
  mock_outputs_allowed_terraform_commands = local.mocks.allowed_commands
}

dependency "vpc" {
  config_path                             = "${get_terragrunt_dir()}/../vpc"
  mock_outputs                            = local.mocks.vpc
  mock_outputs_allowed_terraform_commands = local.mocks.allowed_commands
}

dependency "s3" {
  config_path                             = "${get_terragrunt_dir()}/../s3"
  mock_outputs                            = local.mocks.s3
  mock_outputs_allowed_terraform_commands = local.mocks.allowed_commands
}

dependency "ecr" {
  config_path                             = "${get_terragrunt_dir()}/../ecr"
  mock_outputs                            = local.mocks.ecr
  mock_outputs_allowed_terraform_commands = local.mocks.allowed_commands
}

# The container serves the image scorer (`serve --kind media`): the stream posts image bytes
# (application/x-image) when media_images is on.
inputs = {
  endpoint_name      = local.env.names.media_endpoint
  image_uri          = "${dependency.ecr.outputs.repository_urls["inference"]}:${local.env.image_tag}"
  ecr_repository_arn = dependency.ecr.outputs.repository_arns["inference"]
  model_data_url     = local.env.media_model_data
  environment        = { FRAUD_PIPELINE_ENV = local.env.env, FRAUD_PIPELINE_SERVE_KIND = "media" }
  bucket_arn         = dependency.s3.outputs.bucket_arn
  models_prefix      = local.env.prefixes.models_prefix
  instance_type      = local.env.endpoint_instance_type
  min_instances      = local.env.endpoint_min_instances
  max_instances      = local.env.endpoint_max_instances
  kms_key_arn        = dependency.kms.outputs.key_arn
  vpc_id             = dependency.vpc.outputs.vpc_id
  subnet_ids         = dependency.vpc.outputs.private_subnet_ids
}
