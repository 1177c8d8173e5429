# The environment's customer-managed key: every other component encrypts with it.
# Everything is in _envcommon/kms.hcl; this environment's values come from ../env.hcl.
include "root" {
  path = find_in_parent_folders()
}

include "envcommon" {
  path   = "${dirname(find_in_parent_folders())}/_envcommon/kms.hcl"
  expose = true
}
