variable "function_name" {
  description = "Name of the scoring function (env.hcl scoring_function)."
  type        = string
}

variable "image_uri" {
  description = "ECR image (repository URL with an immutable tag) built from infra/docker/lambda.Dockerfile."
  type        = string
}

variable "handler" {
  description = "Python handler the image's entry point runs."
  type        = string
  default     = "fraud_pipeline.scoring.handler.handler"
}

variable "environment" {
  description = "FRAUD_PIPELINE_* variables (keys of fraud_pipeline.settings.env_var_names())."
  type        = map(string)
}

variable "memory_mb" {
  description = "Memory (and so CPU) of the function."
  type        = number
  default     = 1024
}

variable "timeout_s" {
  description = "Seconds one batch may take."
  type        = number
  default     = 60
}

variable "reserved_concurrency" {
  description = "Concurrent executions reserved (and capped): shards x parallelization factor."
  type        = number
  default     = 20
}

variable "source_stream_arn" {
  description = "Untagged stream the function consumes."
  type        = string
}

variable "tagged_stream_arn" {
  description = "Tagged stream the function writes verdicts to."
  type        = string
}

variable "bucket_arn" {
  description = "Lake bucket."
  type        = string
}

variable "errors_prefix" {
  description = "Prefix the function writes error records under."
  type        = string
  default     = "errors/"
}

variable "policy_prefix" {
  description = "Prefix of the detection policy files (`fraud-pipeline policy push` writes them)."
  type        = string
  default     = "policy/"
}

variable "models_prefix" {
  description = "Prefix of model artifacts the function may load in-process."
  type        = string
  default     = "models/"
}

variable "media_prefix" {
  description = "Prefix of fetched media."
  type        = string
  default     = "media/"
}

variable "state_table_arn" {
  description = "DynamoDB table of counters and checkpoints."
  type        = string
}

variable "sagemaker_endpoint_arns" {
  description = "Endpoints the function may invoke (text and media models)."
  type        = list(string)
}

variable "metric_namespace" {
  description = "CloudWatch namespace of the pipeline's metrics (= the prefix)."
  type        = string
}

variable "kms_key_arn" {
  description = "Environment key (streams, bucket, queue, logs, environment variables)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the function's security group."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets the function runs in."
  type        = list(string)
}

variable "failure_queue_name" {
  description = "SQS queue receiving batches that still fail after the retries (env.hcl scoring_dlq)."
  type        = string
}

variable "starting_position" {
  description = "Where a new mapping starts reading: TRIM_HORIZON (nothing lost) or LATEST."
  type        = string
  default     = "TRIM_HORIZON"
}

variable "batch_size" {
  description = "Most records per invocation."
  type        = number
  default     = 500
}

variable "batching_window_s" {
  description = "Seconds to wait for a fuller batch (latency vs. cost)."
  type        = number
  default     = 1
}

variable "parallelization_factor" {
  description = "Concurrent batches per shard (order is kept per partition key = author DID)."
  type        = number
  default     = 4
}

variable "maximum_retry_attempts" {
  description = "Retries of a failing batch before it goes to the failure queue."
  type        = number
  default     = 5
}

variable "maximum_record_age_s" {
  description = "Records older than this go to the failure queue instead of being retried."
  type        = number
  default     = 3600
}

variable "log_retention_days" {
  description = "Days to keep the function's logs."
  type        = number
  default     = 365
}
