# Athena workgroup and marts database.
# Everything is in _envcommon/athena.hcl; this environment's values come from ../env.hcl.
include "root" {
  path = find_in_parent_folders()
}

include "envcommon" {
  path   = "${dirname(find_in_parent_folders())}/_envcommon/athena.hcl"
  expose = true
}
