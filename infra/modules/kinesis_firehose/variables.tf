variable "name" {
  description = "Delivery stream name (from env.hcl, equal to the settings module's delivery_stream)."
  type        = string
}

variable "source_stream_arn" {
  description = "Tagged Kinesis stream to deliver."
  type        = string
}

variable "bucket_arn" {
  description = "Lake bucket."
  type        = string
}

variable "posts_prefix" {
  description = "Prefix of delivered Parquet files."
  type        = string
  default     = "posts/"
}

variable "accounts_prefix" {
  description = "Key prefix of account records (operation \"account\"): the accounts table"
  type        = string
  default     = "accounts/"
}

variable "errors_prefix" {
  description = "Prefix of records that failed conversion or delivery."
  type        = string
  default     = "errors/"
}

variable "glue_database" {
  description = "Glue database of the schema."
  type        = string
}

variable "glue_table" {
  description = "Glue table whose columns the Parquet files get."
  type        = string
}

variable "buffering_size_mb" {
  description = "Buffer size before a file is written (64 MiB minimum with Parquet conversion)."
  type        = number
  default     = 64

  validation {
    condition     = var.buffering_size_mb >= 64 && var.buffering_size_mb <= 128
    error_message = "With format conversion Firehose needs 64 to 128 MiB."
  }
}

variable "buffering_interval_s" {
  description = "Seconds before a file is written regardless of size."
  type        = number
  default     = 60
}

variable "kms_key_arn" {
  description = "Environment key (stream decryption and S3 encryption)."
  type        = string
}

variable "log_retention_days" {
  description = "Days to keep delivery error logs."
  type        = number
  default     = 365
}
