# Network: private subnets for every workload, NAT for the ingest task's Jetstream connection.
# Everything is in _envcommon/vpc.hcl; this environment's values come from ../env.hcl.
include "root" {
  path = find_in_parent_folders()
}

include "envcommon" {
  path   = "${dirname(find_in_parent_folders())}/_envcommon/vpc.hcl"
  expose = true
}
