variable "bucket_name" {
  description = "Lake bucket name (from env.hcl, equal to the settings module's name)."
  type        = string
}

variable "kms_key_arn" {
  description = "Key for default encryption."
  type        = string
}

variable "force_destroy" {
  description = "Allow destroying a non-empty bucket (dev only: tear-down deletes the lake)."
  type        = bool
  default     = false
}

variable "posts_prefix" {
  description = "Prefix of raw Firehose output."
  type        = string
  default     = "posts/"
}

variable "media_prefix" {
  description = "Prefix of fetched media."
  type        = string
  default     = "media/"
}

variable "errors_prefix" {
  description = "Prefix of error records (ingest, scoring, delivery)."
  type        = string
  default     = "errors/"
}

variable "posts_ia_after_days" {
  description = "Days before raw posts move to Infrequent Access."
  type        = number
  default     = 30
}

variable "posts_expire_after_days" {
  description = "Days raw posts are kept (the compacted lake keeps the history)."
  type        = number
  default     = 90
}

variable "media_expire_after_days" {
  description = "Days fetched media is kept."
  type        = number
  default     = 30
}

variable "errors_expire_after_days" {
  description = "Days error records are kept for inspection and replay."
  type        = number
  default     = 30
}

variable "noncurrent_expire_after_days" {
  description = "Days overwritten or deleted object versions are kept."
  type        = number
  default     = 30
}

variable "access_logs_expire_after_days" {
  description = "Days S3 access logs are kept."
  type        = number
  default     = 365
}
