# The lake bucket (and its access-log bucket).
# Everything is in _envcommon/s3.hcl; this environment's values come from ../env.hcl.
include "root" {
  path = find_in_parent_folders()
}

include "envcommon" {
  path   = "${dirname(find_in_parent_folders())}/_envcommon/s3.hcl"
  expose = true
}
