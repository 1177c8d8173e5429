variable "database_name" {
  description = "Glue database (from env.hcl, equal to the settings module's name)."
  type        = string
}

variable "raw_table_name" {
  description = "Table over raw Firehose output."
  type        = string
}

variable "compacted_table_name" {
  description = "Table over the compacted lake."
  type        = string
}

variable "bucket_name" {
  description = "Lake bucket."
  type        = string
}

variable "posts_prefix" {
  description = "Prefix of raw Firehose output."
  type        = string
  default     = "posts/"
}

variable "compacted_prefix" {
  description = "Prefix of the compacted lake."
  type        = string
  default     = "compacted/"
}

variable "projection_start" {
  description = "First hour partition projection enumerates (yyyy/MM/dd/HH)."
  type        = string
  default     = "2024/01/01/00"
}

variable "kms_key_arn" {
  description = "Key that encrypts catalog metadata."
  type        = string
}

variable "manage_catalog_encryption" {
  description = "Set the account's (one per region) Data Catalog encryption settings from this stack."
  type        = bool
  default     = true
}
