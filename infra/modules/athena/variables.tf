variable "workgroup_name" {
  description = "Athena workgroup (from env.hcl, equal to the settings module's name)."
  type        = string
}

variable "marts_database_name" {
  description = "Glue database the dbt marts are built in on Athena."
  type        = string
}

variable "bucket_name" {
  description = "Lake bucket: query results and mart data live under their prefixes."
  type        = string
}

variable "results_prefix" {
  description = "Prefix of Athena query results (the settings module's athena_results_prefix)."
  type        = string
  default     = "athena-results/"
}

variable "marts_prefix" {
  description = "Prefix of the marts' data (the settings module's marts_prefix)."
  type        = string
  default     = "marts/"
}

variable "bytes_scanned_cutoff_per_query" {
  description = "Athena cancels a query that scans more than this many bytes (cost guard)."
  type        = number

  validation {
    condition     = var.bytes_scanned_cutoff_per_query >= 10485760
    error_message = "Athena's minimum scan limit is 10 MB."
  }
}

variable "kms_key_arn" {
  description = "Key that encrypts query results."
  type        = string
}

variable "force_destroy" {
  description = "Delete the workgroup with its saved queries and history (dev only)."
  type        = bool
  default     = false
}
