# Dagster: webserver, daemon and code location on ECS, EcsRunLauncher, Postgres on RDS.
# Everything is in _envcommon/dagster.hcl; this environment's values come from ../env.hcl.
include "root" {
  path = find_in_parent_folders()
}

include "envcommon" {
  path   = "${dirname(find_in_parent_folders())}/_envcommon/dagster.hcl"
  expose = true
}
