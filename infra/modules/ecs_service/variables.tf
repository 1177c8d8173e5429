variable "name" {
  description = "Name of the cluster, service and task family (env.hcl ingest_service)."
  type        = string
}

variable "image_uri" {
  description = "ECR image (immutable tag) built from infra/docker/ingest.Dockerfile."
  type        = string
}

variable "ecr_repository_arn" {
  description = "Repository the image is pulled from."
  type        = string
}

variable "command" {
  description = "Arguments to the image's `fraud-pipeline` entry point."
  type        = list(string)
  default     = ["ingest", "--source", "jetstream", "--backend", "aws"]
}

variable "environment" {
  description = "FRAUD_PIPELINE_* variables (keys of fraud_pipeline.settings.env_var_names())."
  type        = map(string)
}

variable "scratch_path" {
  description = "Writable path inside the container (FRAUD_PIPELINE_HOME points here)."
  type        = string
  default     = "/scratch"
}

variable "cpu" {
  description = "Fargate CPU units."
  type        = number
  default     = 512
}

variable "memory_mb" {
  description = "Fargate memory."
  type        = number
  default     = 1024
}

variable "vpc_id" {
  description = "VPC of the task's security group."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (egress through NAT)."
  type        = list(string)
}

variable "kinesis_write_stream_arns" {
  description = "Streams the task writes (the untagged stream)."
  type        = list(string)
}

variable "state_table_arn" {
  description = "DynamoDB table holding the Jetstream cursor."
  type        = string
}

variable "bucket_arn" {
  description = "Lake bucket."
  type        = string
}

variable "s3_write_prefixes" {
  description = "Prefixes the task writes under (error records, media)."
  type        = list(string)
  default     = ["errors/", "media/"]
}

variable "metric_namespace" {
  description = "CloudWatch namespace of the pipeline's metrics."
  type        = string
}

variable "kms_key_arn" {
  description = "Environment key."
  type        = string
}

variable "log_retention_days" {
  description = "Days to keep the task's logs."
  type        = number
  default     = 365
}
