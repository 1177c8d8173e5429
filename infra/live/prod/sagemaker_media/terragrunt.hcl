# The media model's endpoint (model.tar.gz from models/ in the lake).
# Everything is in _envcommon/sagemaker_media.hcl; this environment's values come from ../env.hcl.
include "root" {
  path = find_in_parent_folders()
}

include "envcommon" {
  path   = "${dirname(find_in_parent_folders())}/_envcommon/sagemaker_media.hcl"
  expose = true
}
