# The scoring Lambda and its Kinesis event source mapping.
# Everything is in _envcommon/lambda.hcl; this environment's values come from ../env.hcl.
include "root" {
  path = find_in_parent_folders()
}

include "envcommon" {
  path   = "${dirname(find_in_parent_folders())}/_envcommon/lambda.hcl"
  expose = true
}
