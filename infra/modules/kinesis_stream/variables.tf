variable "name" {
  description = "Stream name (from env.hcl, equal to the settings module's name)."
  type        = string
}

variable "stream_mode" {
  description = "ON_DEMAND (scales itself; dev) or PROVISIONED (fixed shards; cheaper at steady load)."
  type        = string
  default     = "ON_DEMAND"

  validation {
    condition     = contains(["ON_DEMAND", "PROVISIONED"], var.stream_mode)
    error_message = "stream_mode must be ON_DEMAND or PROVISIONED."
  }
}

variable "shard_count" {
  description = "Shards when PROVISIONED; ignored ON_DEMAND."
  type        = number
  default     = 2
}

variable "retention_hours" {
  description = "How long records stay readable (24 to 8760); long enough to replay a bad deploy."
  type        = number
  default     = 48
}

variable "kms_key_arn" {
  description = "Key that encrypts the records."
  type        = string
}

variable "shard_level_metrics" {
  description = "Enhanced shard-level metrics to publish."
  type        = list(string)
  default     = ["IncomingRecords", "OutgoingRecords", "IteratorAgeMilliseconds", "WriteProvisionedThroughputExceeded", "ReadProvisionedThroughputExceeded"]
}
