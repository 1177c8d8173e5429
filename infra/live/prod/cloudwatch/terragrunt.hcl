# Dashboard (body generated from fraud_pipeline/dashboard/widgets.py into dashboard.json beside this
# Everything is in _envcommon/cloudwatch.hcl; this environment's values come from ../env.hcl.
include "root" {
  path = find_in_parent_folders()
}

include "envcommon" {
  path   = "${dirname(find_in_parent_folders())}/_envcommon/cloudwatch.hcl"
  expose = true
}
