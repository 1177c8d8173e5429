variable "table_name" {
  description = "State table (from env.hcl, equal to the settings module's name)."
  type        = string
}

variable "hash_key" {
  description = "Partition key attribute (string): the checkpoint or counter key."
  type        = string
  default     = "pk"
}

variable "ttl_attribute" {
  description = "Attribute holding the epoch-seconds expiry of counters with a time-to-live."
  type        = string
  default     = "expires_at"
}

variable "kms_key_arn" {
  description = "Key that encrypts the table."
  type        = string
}

variable "deletion_protection" {
  description = "Refuse to delete the table (prod)."
  type        = bool
  default     = true
}
