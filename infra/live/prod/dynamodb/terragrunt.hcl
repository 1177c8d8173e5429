# Checkpoints and counters.
# Everything is in _envcommon/dynamodb.hcl; this environment's values come from ../env.hcl.
include "root" {
  path = find_in_parent_folders()
}

include "envcommon" {
  path   = "${dirname(find_in_parent_folders())}/_envcommon/dynamodb.hcl"
  expose = true
}
