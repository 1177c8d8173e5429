# Network: private subnets for every workload, NAT for the ingest task's Jetstream connection.
# Shared by every environment: live/<env>/vpc/terragrunt.hcl includes this file, and what
# differs between environments comes from live/<env>/env.hcl.
locals {
  env   = read_terragrunt_config(find_in_parent_folders("env.hcl")).locals
  mocks = read_terragrunt_config(find_in_parent_folders("mock_outputs.hcl")).locals
}

terraform {
  source = "${get_repo_root()}/infra/modules//vpc"
}

dependency "kms" {
  config_path                             = "${get_terragrunt_dir()}/../kms"
  mock_outputs                            = local.mocks.kms
  mock_outputs_allowed_terraform_commands = local.mocks.allowed_commands
}

inputs = {
  name               = local.env.prefix
  cidr_block         = local.env.vpc_cidr
  availability_zones = local.env.availability_zones
  single_nat_gateway = local.env.single_nat_gateway
  kms_key_arn        = dependency.kms.outputs.key_arn
}
