# Image repositories: lambda, ingest, dagster, inference.
# Everything is in _envcommon/ecr.hcl; this environment's values come from ../env.hcl.
include "root" {
  path = find_in_parent_folders()
}

include "envcommon" {
  path   = "${dirname(find_in_parent_folders())}/_envcommon/ecr.hcl"
  expose = true
}
