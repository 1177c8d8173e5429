# The ingest task on Fargate: Jetstream -> the untagged stream, one writer.
# Everything is in _envcommon/ingest.hcl; this environment's values come from ../env.hcl.
include "root" {
  path = find_in_parent_folders()
}

include "envcommon" {
  path   = "${dirname(find_in_parent_folders())}/_envcommon/ingest.hcl"
  expose = true
}
