variable "name" {
  description = "Role name."
  type        = string
}

variable "service" {
  description = "Service principal that assumes the role, e.g. lambda.amazonaws.com."
  type        = string
}

variable "external_id" {
  description = "sts:ExternalId the service must pass when assuming the role (null: no condition)."
  type        = string
  default     = null
}

variable "policy_name" {
  description = "Name of the inline policy (null: no inline policy, managed policies only)."
  type        = string
  default     = null
}

variable "policy_json" {
  description = "The inline policy document (an aws_iam_policy_document's json) when policy_name is set."
  type        = string
  default     = null
}

variable "managed_policy_arns" {
  description = "AWS managed policies to attach (only for jobs with no resource-level permissions)."
  type        = list(string)
  default     = []
}
