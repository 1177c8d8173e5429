variable "prefix" {
  description = "Resource-name prefix of the environment; repositories are <prefix>/<image>."
  type        = string
}

variable "repositories" {
  description = "Image names, one repository each."
  type        = list(string)
  default     = ["lambda", "ingest", "dagster", "inference"]
}

variable "kms_key_arn" {
  description = "Key that encrypts the images."
  type        = string
}

variable "keep_images" {
  description = "Images kept per repository (older ones expire; keep enough to roll back)."
  type        = number
  default     = 30
}

variable "force_delete" {
  description = "Delete repositories that still hold images on destroy (dev only)."
  type        = bool
  default     = false
}
