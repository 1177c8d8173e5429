# Tagged stream -> Parquet under posts/YYYY/MM/DD/HH/, converted with the Glue table.
# Everything is in _envcommon/firehose.hcl; this environment's values come from ../env.hcl.
include "root" {
  path = find_in_parent_folders()
}

include "envcommon" {
  path   = "${dirname(find_in_parent_folders())}/_envcommon/firehose.hcl"
  expose = true
}
