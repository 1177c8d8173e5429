# The media model's endpoint (model.tar.gz from models/ in the lake).
include "root" {
  path = find_in_parent_folders()
}

locals {
  env = read_terragrunt_config(find_in_parent_folders("env.hcl")).locals
}

terraform {
  source = "${get_repo_root()}/infra/modules//sagemaker_endpoint"
}

dependency "kms" {
  config_path                             = "../kms"
  mock_outputs                            = { key_arn = "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000", key_id = "00000000-0000-0000-0000-000000000000" }
  mock_outputs_allowed_terraform_commands = ["init", "validate", "plan"]
}

dependency "vpc" {
  config_path                             = "../vpc"
  mock_outputs                            = { vpc_id = "vpc-00000000000000000", vpc_cidr_block = "10.0.0.0/16", private_subnet_ids = ["subnet-00000000000000000", "subnet-00000000000000001"], public_subnet_ids = ["subnet-00000000000000002", "subnet-00000000000000003"] }
  mock_outputs_allowed_terraform_commands = ["init", "validate", "plan"]
}

dependency "s3" {
  config_path                             = "../s3"
  mock_outputs                            = { bucket_name = "mock-bucket", bucket_arn = "arn:aws:s3:::mock-bucket" }
  mock_outputs_allowed_terraform_commands = ["init", "validate", "plan"]
}

dependency "ecr" {
  config_path = "../ecr"
  mock_outputs = {
    repository_urls = { lambda = "000000000000.dkr.ecr.us-east-1.amazonaws.com/mock/lambda", ingest = "000000000000.dkr.ecr.us-east-1.amazonaws.com/mock/ingest", dagster = "000000000000.dkr.ecr.us-east-1.amazonaws.com/mock/dagster", inference = "000000000000.dkr.ecr.us-east-1.amazonaws.com/mock/inference" }
    repository_arns = { lambda = "arn:aws:ecr:us-east-1:000000000000:repository/mock/lambda", ingest = "arn:aws:ecr:us-east-1:000000000000:repository/mock/ingest", dagster = "arn:aws:ecr:us-east-1:000000000000:repository/mock/dagster", inference = "arn:aws:ecr:us-east-1:000000000000:repository/mock/inference" }
  }
  mock_outputs_allowed_terraform_commands = ["init", "validate", "plan"]
}

inputs = {
  endpoint_name      = local.env.names.media_endpoint
  image_uri          = "${dependency.ecr.outputs.repository_urls["inference"]}:${local.env.image_tag}"
  ecr_repository_arn = dependency.ecr.outputs.repository_arns["inference"]
  model_data_url     = local.env.media_model_data
  environment        = { FRAUD_PIPELINE_ENV = local.env.env }
  bucket_arn         = dependency.s3.outputs.bucket_arn
  models_prefix      = local.env.prefixes.models_prefix
  instance_type      = local.env.endpoint_instance_type
  min_instances      = local.env.endpoint_min_instances
  max_instances      = local.env.endpoint_max_instances
  kms_key_arn        = dependency.kms.outputs.key_arn
  vpc_id             = dependency.vpc.outputs.vpc_id
  subnet_ids         = dependency.vpc.outputs.private_subnet_ids
}
