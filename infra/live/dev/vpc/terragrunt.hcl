# Network: private subnets for every workload, NAT for the ingest task's Jetstream connection.
include "root" {
  path = find_in_parent_folders()
}

locals {
  env = read_terragrunt_config(find_in_parent_folders("env.hcl")).locals
}

terraform {
  source = "${get_repo_root()}/infra/modules//vpc"
}

dependency "kms" {
  config_path                             = "../kms"
  mock_outputs                            = { key_arn = "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000", key_id = "00000000-0000-0000-0000-000000000000" }
  mock_outputs_allowed_terraform_commands = ["init", "validate", "plan"]
}

inputs = {
  name               = local.env.prefix
  cidr_block         = local.env.vpc_cidr
  availability_zones = local.env.availability_zones
  single_nat_gateway = local.env.single_nat_gateway
  kms_key_arn        = dependency.kms.outputs.key_arn
}
