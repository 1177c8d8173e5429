# Root Terragrunt config every component includes: remote state in S3 with a DynamoDB lock, and a
# generated AWS provider whose default tags mark every resource with project and environment.
# Names and sizes come from <env>/env.hcl.
locals {
  env = read_terragrunt_config(find_in_parent_folders("env.hcl")).locals
}

remote_state {
  backend = "s3"
  generate = {
    path      = "backend.tf"
    if_exists = "overwrite_terragrunt"
  }
  config = {
    # The state bucket and lock table are per account; CI passes the bucket name as a secret so it is
    # never printed. Terragrunt creates both (encrypted, versioned, public access blocked) on first use.
    bucket              = get_env("FRAUD_TF_STATE_BUCKET", "${local.env.prefix}-tfstate")
    key                 = "${path_relative_to_include()}/terraform.tfstate"
    region              = local.env.aws_region
    encrypt             = true
    dynamodb_table      = "${local.env.prefix}-tflock"
    skip_bucket_root_access = true
  }
}

generate "provider" {
  path      = "provider.tf"
  if_exists = "overwrite_terragrunt"
  contents  = <<-EOT
    provider "aws" {
      region = "${local.env.aws_region}"

      default_tags {
        tags = {
          Project     = "fraud-detect"
          Environment = "${local.env.env}"
          ManagedBy   = "terragrunt"
          Component   = "${basename(get_terragrunt_dir())}"
        }
      }
    }
  EOT
}
