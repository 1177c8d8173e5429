variable "name" {
  description = "Name of the cluster, services and database (env.hcl dagster_name)."
  type        = string
}

variable "image_uri" {
  description = "Dagster image (infra/docker/dagster.Dockerfile) with an immutable tag."
  type        = string
}

variable "ecr_repository_arn" {
  description = "Repository the image is pulled from."
  type        = string
}

variable "code_module" {
  description = "Python module of the code location."
  type        = string
  default     = "fraud_pipeline.orchestration"
}

variable "code_attribute" {
  description = "Attribute of the code module holding the Dagster Definitions (built lazily on first access)."
  type        = string
  default     = "defs"
}

variable "code_service_name" {
  description = "Cloud Map name of the code server (workspace.yaml points at <name>.<namespace>)."
  type        = string
  default     = "code"
}

variable "service_discovery_namespace" {
  description = "Private DNS namespace of the Dagster services."
  type        = string
  default     = "dagster.local"
}

variable "code_port" {
  description = "gRPC port of the code server."
  type        = number
  default     = 4000
}

variable "webserver_port" {
  description = "HTTP port of the webserver."
  type        = number
  default     = 3000
}

variable "webserver_allowed_cidr" {
  description = "Range allowed to reach the webserver (the VPC; reach it through VPN or SSM)."
  type        = string
}

variable "code_cpu" {
  description = "CPU units of the code server and of each run task."
  type        = number
  default     = 1024
}

variable "code_memory_mb" {
  description = "Memory of the code server and of each run task."
  type        = number
  default     = 4096
}

variable "environment" {
  description = "FRAUD_PIPELINE_* variables for every Dagster container."
  type        = map(string)
}

variable "scratch_path" {
  description = "Writable path in the containers (DAGSTER_HOME scratch, FRAUD_PIPELINE_HOME)."
  type        = string
  default     = "/scratch"
}

variable "vpc_id" {
  description = "VPC of the services and database."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the services and database."
  type        = list(string)
}

variable "postgres_version" {
  description = "RDS Postgres engine version."
  type        = string
  default     = "16.4"
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.small"
}

variable "db_storage_gb" {
  description = "Initial storage (autoscaling up to 4x)."
  type        = number
  default     = 20
}

variable "db_name" {
  description = "Database name."
  type        = string
  default     = "dagster"
}

variable "db_username" {
  description = "Master user; its password is generated and kept in Secrets Manager by RDS."
  type        = string
  default     = "dagster"
}

variable "db_multi_az" {
  description = "Standby in a second zone."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Days of automated backups."
  type        = number
  default     = 7
}

variable "deletion_protection" {
  description = "Refuse to delete the database; keep a final snapshot."
  type        = bool
  default     = true
}

variable "bucket_arn" {
  description = "Lake bucket."
  type        = string
}

variable "s3_read_prefixes" {
  description = "Prefixes Dagster reads (raw posts, compacted lake, models, errors)."
  type        = list(string)
  default     = ["posts/", "compacted/", "models/", "errors/"]
}

variable "s3_write_prefixes" {
  description = "Prefixes Dagster writes or deletes under (compaction, deletes, model packaging)."
  type        = list(string)
  default     = ["compacted/", "models/", "posts/"]
}

variable "glue_database" {
  description = "Glue database whose partitions Dagster registers."
  type        = string
}

variable "kinesis_stream_arns" {
  description = "Streams the stream-health sensor watches."
  type        = list(string)
}

variable "sagemaker_endpoint_arns" {
  description = "Endpoints the endpoint sensor and model evaluation use."
  type        = list(string)
}

variable "state_table_arn" {
  description = "DynamoDB table of checkpoints."
  type        = string
}

variable "metric_namespace" {
  description = "Namespace of the pipeline's metrics."
  type        = string
}

variable "kms_key_arn" {
  description = "Environment key."
  type        = string
}

variable "log_retention_days" {
  description = "Days to keep Dagster logs."
  type        = number
  default     = 365
}

variable "athena_workgroup_arn" {
  description = "Athena workgroup the task may query in (empty: no Athena permissions)."
  type        = string
  default     = ""
}

variable "athena_database" {
  description = "Glue database of the marts built on Athena (empty: none)."
  type        = string
  default     = ""
}
