variable "endpoint_name" {
  description = "Endpoint name (from env.hcl, equal to the settings module's text_endpoint / media_endpoint)."
  type        = string
}

variable "image_uri" {
  description = "Inference image (infra/docker/inference.Dockerfile) with an immutable tag."
  type        = string
}

variable "ecr_repository_arn" {
  description = "Repository the image is pulled from."
  type        = string
}

variable "model_data_url" {
  description = "s3://<bucket>/models/<kind>/<version>/model.tar.gz; changing it rolls out a new model."
  type        = string

  validation {
    condition     = can(regex("^s3://[^/]+/.+/model\\.tar\\.gz$", var.model_data_url))
    error_message = "model_data_url must be an s3:// URL of a model.tar.gz."
  }
}

variable "environment" {
  description = "Container environment (e.g. which model kind the server loads)."
  type        = map(string)
  default     = {}
}

variable "bucket_arn" {
  description = "Lake bucket holding the model artifacts."
  type        = string
}

variable "models_prefix" {
  description = "Prefix of model artifacts."
  type        = string
  default     = "models/"
}

variable "instance_type" {
  description = "Instance type of the variant."
  type        = string
  default     = "ml.m5.large"
}

variable "min_instances" {
  description = "Instances at least (and at start)."
  type        = number
  default     = 1
}

variable "max_instances" {
  description = "Instances at most under load."
  type        = number
  default     = 4
}

variable "target_invocations_per_instance" {
  description = "Invocations per instance per minute the autoscaler aims for."
  type        = number
  default     = 3000
}

variable "scale_in_cooldown_s" {
  description = "Seconds between scale-in steps."
  type        = number
  default     = 300
}

variable "scale_out_cooldown_s" {
  description = "Seconds between scale-out steps."
  type        = number
  default     = 60
}

variable "kms_key_arn" {
  description = "Key for the instances' storage volumes."
  type        = string
}

variable "vpc_id" {
  description = "VPC the model containers are attached to."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the model containers."
  type        = list(string)
}
