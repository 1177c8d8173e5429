# The labeler: labels worker and the public labeler service.
# Everything is in _envcommon/labeler.hcl; this environment's values come from ../env.hcl.
include "root" {
  path = find_in_parent_folders()
}

include "envcommon" {
  path   = "${dirname(find_in_parent_folders())}/_envcommon/labeler.hcl"
  expose = true
}
