# The environment's customer-managed key: every other component encrypts with it.
include "root" {
  path = find_in_parent_folders()
}

locals {
  env = read_terragrunt_config(find_in_parent_folders("env.hcl")).locals
}

terraform {
  source = "${get_repo_root()}/infra/modules//kms"
}

inputs = {
  prefix                  = local.env.prefix
  deletion_window_in_days = 30
}
