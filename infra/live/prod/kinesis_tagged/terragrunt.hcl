# The tagged stream.
# Everything is in _envcommon/kinesis_tagged.hcl; this environment's values come from ../env.hcl.
include "root" {
  path = find_in_parent_folders()
}

include "envcommon" {
  path   = "${dirname(find_in_parent_folders())}/_envcommon/kinesis_tagged.hcl"
  expose = true
}
