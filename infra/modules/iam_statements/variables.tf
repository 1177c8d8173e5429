variable "include_kms" {
  description = "Add the statement allowing kms_actions on kms_key_arns."
  type        = bool
  default     = false
}

variable "kms_key_arns" {
  description = "Keys the role may use (the environment key); named ARNs only, never a wildcard."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.kms_key_arns : length(regexall("\\*", arn)) == 0])
    error_message = "kms_key_arns must name keys, not patterns."
  }
}

variable "kms_actions" {
  description = "KMS actions the role needs on the keys, e.g. [\"kms:Decrypt\"] to read, plus kms:GenerateDataKey to write."
  type        = list(string)
  default     = ["kms:Decrypt", "kms:GenerateDataKey"]

  validation {
    condition     = alltrue([for action in var.kms_actions : can(regex("^kms:[A-Za-z]+$", action))])
    error_message = "kms_actions must be single kms: actions (no wildcards)."
  }
}

variable "kms_sid" {
  description = "Sid of the KMS statement (says why the role needs the key)."
  type        = string
  default     = "UseEnvironmentKey"

  validation {
    condition     = can(regex("^[A-Za-z0-9]+$", var.kms_sid))
    error_message = "kms_sid must be alphanumeric (an IAM Sid)."
  }
}

variable "include_ecr_pull" {
  description = "Add image pull from ecr_repository_arns plus ecr:GetAuthorizationToken (which has no resource-level permissions)."
  type        = bool
  default     = false
}

variable "ecr_repository_arns" {
  description = "Repositories the role may pull from; named ARNs only, never a wildcard."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.ecr_repository_arns : length(regexall("\\*", arn)) == 0])
    error_message = "ecr_repository_arns must name repositories, not patterns."
  }
}

variable "include_put_metrics" {
  description = "Add cloudwatch:PutMetricData, limited by a condition to metric_namespace."
  type        = bool
  default     = false
}

variable "metric_namespace" {
  description = "The pipeline's CloudWatch namespace (settings.metric_namespace) the role may publish to."
  type        = string
  default     = null
}
