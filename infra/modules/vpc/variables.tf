variable "name" {
  description = "Name of the VPC (the environment prefix)."
  type        = string
}

variable "cidr_block" {
  description = "IPv4 range of the VPC; /16 leaves room for 16 subnets of /20."
  type        = string
  default     = "10.40.0.0/16"
}

variable "availability_zones" {
  description = "Zones to spread subnets over (at least two: RDS needs two)."
  type        = list(string)

  validation {
    condition     = length(var.availability_zones) >= 2 && length(var.availability_zones) <= 4
    error_message = "Give 2 to 4 availability zones."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones (cheaper, dev) instead of one per zone (prod)."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "Key that encrypts the flow-log group."
  type        = string
}

variable "log_retention_days" {
  description = "Days to keep flow logs."
  type        = number
  default     = 365
}
