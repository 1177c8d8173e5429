variable "prefix" {
  description = "Resource-name prefix of the environment (fraud-detect-<env>)."
  type        = string
}

variable "deletion_window_in_days" {
  description = "Days a scheduled key deletion can still be cancelled."
  type        = number
  default     = 30
}
