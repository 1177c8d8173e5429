# Glue database, raw table (partition projection) and compacted table; columns from records.py.
# Everything is in _envcommon/glue.hcl; this environment's values come from ../env.hcl.
include "root" {
  path = find_in_parent_folders()
}

include "envcommon" {
  path   = "${dirname(find_in_parent_folders())}/_envcommon/glue.hcl"
  expose = true
}
