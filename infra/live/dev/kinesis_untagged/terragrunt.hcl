# The untagged stream.
# Everything is in _envcommon/kinesis_untagged.hcl; this environment's values come from ../env.hcl.
include "root" {
  path = find_in_parent_folders()
}

include "envcommon" {
  path   = "${dirname(find_in_parent_folders())}/_envcommon/kinesis_untagged.hcl"
  expose = true
}
