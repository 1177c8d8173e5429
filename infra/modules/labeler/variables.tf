variable "name" {
  description = "Name of the cluster, services, load balancer and task families (env.hcl labeler_service)."
  type        = string
}

variable "image_uri" {
  description = "ECR image (immutable tag) with the `fraud-pipeline` entry point (the ingest image)."
  type        = string
}

variable "ecr_repository_arn" {
  description = "Repository the image is pulled from."
  type        = string
}

variable "environment" {
  description = "FRAUD_PIPELINE_* variables (keys of fraud_pipeline.settings.env_var_names())."
  type        = map(string)
}

variable "scratch_path" {
  description = "Writable path inside the containers (FRAUD_PIPELINE_HOME points here)."
  type        = string
  default     = "/scratch"
}

variable "domain_name" {
  description = "Public name of the labeler (its identity is did:web:<domain_name>); the certificate covers it."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate for domain_name, used by the HTTPS listener."
  type        = string
}

variable "route53_zone_id" {
  description = "Hosted zone to create domain_name in (an alias to the load balancer); empty: manage DNS elsewhere."
  type        = string
  default     = ""
}

variable "service_port" {
  description = "Port the labeler service listens on inside its task."
  type        = number
  default     = 8090
}

variable "service_count" {
  description = "Labeler service tasks behind the load balancer (each follows the label store)."
  type        = number
  default     = 2
}

variable "service_cpu" {
  description = "Fargate CPU units of a labeler service task."
  type        = number
  default     = 512
}

variable "service_memory_mb" {
  description = "Fargate memory of a labeler service task."
  type        = number
  default     = 1024
}

variable "worker_cpu" {
  description = "Fargate CPU units of the labels worker task (signs every label)."
  type        = number
  default     = 512
}

variable "worker_memory_mb" {
  description = "Fargate memory of the labels worker task."
  type        = number
  default     = 1024
}

variable "vpc_id" {
  description = "VPC of the load balancer and the tasks."
  type        = string
}

variable "public_subnet_ids" {
  description = "Subnets of the internet-facing load balancer."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Subnets the tasks run in (egress through NAT)."
  type        = list(string)
}

variable "tagged_stream_arn" {
  description = "The tagged stream the labels worker consumes (beside Firehose)."
  type        = string
}

variable "state_table_arn" {
  description = "DynamoDB table holding the worker's checkpoints."
  type        = string
}

variable "bucket_arn" {
  description = "Lake bucket (labels/ and errors/ are written, policy/ is read)."
  type        = string
}

variable "s3_write_prefixes" {
  description = "Prefixes the worker writes under (labels for analytics, error records)."
  type        = list(string)
  default     = ["labels/", "errors/"]
}

variable "s3_read_prefixes" {
  description = "Prefixes the worker reads (the detection policy)."
  type        = list(string)
  default     = ["policy/"]
}

variable "db_address" {
  description = "Host of the Postgres that Dagster already runs; the label store is its `labeler` schema."
  type        = string
}

variable "db_name" {
  description = "Database on that instance."
  type        = string
}

variable "db_username" {
  description = "User the labeler connects as."
  type        = string
}

variable "db_secret_arn" {
  description = "Secrets Manager secret (RDS-managed) holding that user's password."
  type        = string
}

variable "db_security_group_id" {
  description = "Security group of the database; the labeler's tasks are allowed in on 5432."
  type        = string
}

variable "signing_key_secret_name" {
  description = "Secrets Manager secret of the label signing key (settings.labeler_key_secret); created empty, filled by the worker on first use."
  type        = string
}

variable "metric_namespace" {
  description = "CloudWatch namespace of the pipeline's metrics (the worker's Labels-* metrics)."
  type        = string
}

variable "max_lag_s" {
  description = "Alarm when the labels worker is this many seconds behind the tagged stream (settings.max_consumer_lag_s)."
  type        = number
}

variable "max_labels_per_5min" {
  description = "Alarm when more labels than this are published in 5 minutes (a runaway rule or a campaign storm)."
  type        = number
}

variable "alarm_topic_arn" {
  description = "SNS topic the alarms notify."
  type        = string
}

variable "kms_key_arn" {
  description = "Environment key (logs, the signing-key secret)."
  type        = string
}

variable "log_retention_days" {
  description = "Days to keep the tasks' logs."
  type        = number
  default     = 365
}

variable "deletion_protection" {
  description = "Protect the load balancer from deletion (prod)."
  type        = bool
}
