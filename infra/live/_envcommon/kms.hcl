# The environment's customer-managed key: every other component encrypts with it.
# Shared by every environment: live/<env>/kms/terragrunt.hcl includes this file, and what
# differs between environments comes from live/<env>/env.hcl.
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
