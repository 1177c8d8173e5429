# Dagster on ECS Fargate: a code-location server (the project's image, `dagster code-server start -m
# fraud_pipeline.orchestration`), the webserver and the daemon, found by each other through Cloud Map,
# with run and event storage in Postgres on RDS. Each run is launched as its own ECS task
# (EcsRunLauncher, configured in infra/docker/dagster/dagster.yaml) from the code server's task definition.
data "aws_region" "current" {}
data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  account    = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  arn_prefix = "arn:${data.aws_partition.current.partition}"
  code_host  = "${var.code_service_name}.${var.service_discovery_namespace}"
  db_secret  = aws_db_instance.this.master_user_secret[0].secret_arn
  pg_environment = {
    DAGSTER_PG_HOST     = aws_db_instance.this.address
    DAGSTER_PG_DB       = var.db_name
    DAGSTER_PG_USERNAME = var.db_username
  }
  services = {
    code = {
      command = ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", tostring(var.code_port), "-m", var.code_module, "-a", var.code_attribute, "--log-format", "json"]
      port    = var.code_port
      cpu     = var.code_cpu
      memory  = var.code_memory_mb
    }
    webserver = {
      command = ["dagster-webserver", "-h", "0.0.0.0", "-p", tostring(var.webserver_port), "-w", "/opt/dagster/app/workspace.yaml", "--log-format", "json"]
      port    = var.webserver_port
      cpu     = 512
      memory  = 1024
    }
    daemon = {
      command = ["dagster-daemon", "run", "-w", "/opt/dagster/app/workspace.yaml", "--log-format", "json"]
      port    = null
      cpu     = 512
      memory  = 1024
    }
  }
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_ecs_cluster" "this" {
  name = var.name
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_service_discovery_private_dns_namespace" "this" {
  name        = var.service_discovery_namespace
  description = "Dagster services of ${var.name}"
  vpc         = var.vpc_id
}

resource "aws_service_discovery_service" "this" {
  for_each = toset(["code", "webserver"])
  name     = each.key == "code" ? var.code_service_name : "webserver"

  dns_config {
    namespace_id   = aws_service_discovery_private_dns_namespace.this.id
    routing_policy = "MULTIVALUE"
    dns_records {
      ttl  = 10
      type = "A"
    }
  }

  health_check_custom_config {
    failure_threshold = 1
  }
}

# -- network -------------------------------------------------------------------------------------
resource "aws_security_group" "tasks" {
  name        = "${var.name}-tasks"
  description = "Dagster webserver, daemon, code server and run tasks"
  vpc_id      = var.vpc_id

  egress {
    description = "HTTPS to AWS APIs"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_vpc_security_group_ingress_rule" "code_from_tasks" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "gRPC code server from webserver, daemon and runs"
  referenced_security_group_id = aws_security_group.tasks.id
  from_port                    = var.code_port
  to_port                      = var.code_port
  ip_protocol                  = "tcp"
}

resource "aws_vpc_security_group_egress_rule" "code_to_tasks" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "gRPC to the code server"
  referenced_security_group_id = aws_security_group.tasks.id
  from_port                    = var.code_port
  to_port                      = var.code_port
  ip_protocol                  = "tcp"
}

resource "aws_vpc_security_group_ingress_rule" "webserver_from_vpc" {
  security_group_id = aws_security_group.tasks.id
  description       = "Webserver from inside the VPC only (VPN or SSM port forwarding)"
  cidr_ipv4         = var.webserver_allowed_cidr
  from_port         = var.webserver_port
  to_port           = var.webserver_port
  ip_protocol       = "tcp"
}

resource "aws_security_group" "db" {
  name        = "${var.name}-db"
  description = "Dagster Postgres: only from Dagster tasks"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "db_from_tasks" {
  security_group_id            = aws_security_group.db.id
  description                  = "Postgres from Dagster tasks"
  referenced_security_group_id = aws_security_group.tasks.id
  from_port                    = 5432
  to_port                      = 5432
  ip_protocol                  = "tcp"
}

resource "aws_vpc_security_group_egress_rule" "tasks_to_db" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "Postgres"
  referenced_security_group_id = aws_security_group.db.id
  from_port                    = 5432
  to_port                      = 5432
  ip_protocol                  = "tcp"
}

# -- Postgres (run, event-log and schedule storage) ------------------------------------------------
resource "aws_db_subnet_group" "this" {
  name       = var.name
  subnet_ids = var.subnet_ids
}

resource "aws_db_parameter_group" "this" {
  name   = var.name
  family = "postgres${split(".", var.postgres_version)[0]}"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
}

module "rds_monitoring_role" {
  source              = "../iam_role"
  name                = "${var.name}-rds-monitoring"
  service             = "monitoring.rds.amazonaws.com"
  managed_policy_arns = ["${local.arn_prefix}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"]
}

resource "aws_db_instance" "this" {
  identifier                          = var.name
  engine                              = "postgres"
  engine_version                      = var.postgres_version
  instance_class                      = var.db_instance_class
  allocated_storage                   = var.db_storage_gb
  max_allocated_storage               = var.db_storage_gb * 4
  storage_type                        = "gp3"
  storage_encrypted                   = true
  kms_key_id                          = var.kms_key_arn
  db_name                             = var.db_name
  username                            = var.db_username
  manage_master_user_password         = true
  master_user_secret_kms_key_id       = var.kms_key_arn
  iam_database_authentication_enabled = true
  db_subnet_group_name                = aws_db_subnet_group.this.name
  parameter_group_name                = aws_db_parameter_group.this.name
  vpc_security_group_ids              = [aws_security_group.db.id]
  publicly_accessible                 = false
  multi_az                            = var.db_multi_az
  backup_retention_period             = var.db_backup_retention_days
  deletion_protection                 = var.deletion_protection
  skip_final_snapshot                 = !var.deletion_protection
  final_snapshot_identifier           = "${var.name}-final"
  copy_tags_to_snapshot               = true
  auto_minor_version_upgrade          = true
  performance_insights_enabled        = true
  performance_insights_kms_key_id     = var.kms_key_arn
  monitoring_interval                 = 60
  monitoring_role_arn                 = module.rds_monitoring_role.arn
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
  apply_immediately                   = false
}

# -- IAM -------------------------------------------------------------------------------------------
module "execution_role" {
  source      = "../iam_role"
  name        = "${var.name}-execution"
  service     = "ecs-tasks.amazonaws.com"
  policy_name = "start-task"
  policy_json = data.aws_iam_policy_document.execution.json
}

# Pull the image; decrypt its layers and the database password with the environment key.
module "execution_statements" {
  source              = "../iam_statements"
  include_kms         = true
  kms_sid             = "DecryptSecretAndImages"
  kms_key_arns        = [var.kms_key_arn]
  kms_actions         = ["kms:Decrypt"]
  include_ecr_pull    = true
  ecr_repository_arns = [var.ecr_repository_arn]
}

data "aws_iam_policy_document" "execution" {
  source_policy_documents = [module.execution_statements.json]

  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  statement {
    sid       = "InjectDatabasePassword"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.db_secret]
  }
}

module "task_role" {
  source      = "../iam_role"
  name        = "${var.name}-task"
  service     = "ecs-tasks.amazonaws.com"
  policy_name = "dagster"
  policy_json = data.aws_iam_policy_document.task.json
}

# The environment key and the pipeline's metrics namespace, as every workload role gets them.
module "task_statements" {
  source              = "../iam_statements"
  include_kms         = true
  kms_key_arns        = [var.kms_key_arn]
  kms_actions         = ["kms:Decrypt", "kms:GenerateDataKey"]
  include_put_metrics = true
  metric_namespace    = var.metric_namespace
}

data "aws_iam_policy_document" "task" {
  source_policy_documents = [module.task_statements.json]

  # EcsRunLauncher: start one task per run from the code server's task definition.
  statement {
    sid       = "LaunchRuns"
    actions   = ["ecs:RunTask", "ecs:StopTask", "ecs:DescribeTasks", "ecs:TagResource"]
    resources = ["${local.arn_prefix}:ecs:${local.region}:${local.account}:task-definition/${var.name}-*", "${local.arn_prefix}:ecs:${local.region}:${local.account}:task/${var.name}/*"]
  }

  # Task-definition reads/registration have no resource-level permissions.
  statement {
    sid       = "ReadTaskDefinitions"
    actions   = ["ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition", "ecs:ListAccountSettings", "ec2:DescribeNetworkInterfaces"]
    resources = ["*"]
  }

  statement {
    sid       = "PassOwnRolesToRuns"
    actions   = ["iam:PassRole"]
    resources = [module.execution_role.arn, module.task_role.arn]
  }

  statement {
    sid       = "LocateBucket"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [var.bucket_arn]
  }

  statement {
    sid       = "ReadLake"
    actions   = ["s3:GetObject"]
    resources = [for prefix in var.s3_read_prefixes : "${var.bucket_arn}/${prefix}*"]
  }

  statement {
    sid       = "WriteCompactedLakeModelsAndApplyDeletes"
    actions   = ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = [for prefix in var.s3_write_prefixes : "${var.bucket_arn}/${prefix}*"]
  }

  statement {
    sid = "RegisterPartitions"
    actions = [
      "glue:GetDatabase", "glue:GetTable", "glue:GetPartition", "glue:GetPartitions",
      "glue:BatchCreatePartition", "glue:CreatePartition", "glue:BatchDeletePartition", "glue:UpdateTable",
    ]
    resources = [
      "${local.arn_prefix}:glue:${local.region}:${local.account}:catalog",
      "${local.arn_prefix}:glue:${local.region}:${local.account}:database/${var.glue_database}",
      "${local.arn_prefix}:glue:${local.region}:${local.account}:table/${var.glue_database}/*",
    ]
  }

  # The Athena engine (FRAUD_PIPELINE_ANALYTICS_ENGINE=athena): queries in the workgroup, and the
  # marts dbt-athena creates in their database (their data and the results under s3_write_prefixes).
  dynamic "statement" {
    for_each = var.athena_workgroup_arn == "" ? [] : [1]
    content {
      sid = "QueryWithAthena"
      actions = [
        "athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults",
        "athena:StopQueryExecution", "athena:GetWorkGroup",
      ]
      resources = [var.athena_workgroup_arn]
    }
  }

  dynamic "statement" {
    for_each = var.athena_database == "" ? [] : [1]
    content {
      sid = "BuildMartsWithAthena"
      actions = [
        "glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:CreateTable", "glue:UpdateTable",
        "glue:DeleteTable", "glue:GetPartition", "glue:GetPartitions", "glue:BatchCreatePartition",
        "glue:BatchDeletePartition",
      ]
      resources = [
        "${local.arn_prefix}:glue:${local.region}:${local.account}:catalog",
        "${local.arn_prefix}:glue:${local.region}:${local.account}:database/${var.athena_database}",
        "${local.arn_prefix}:glue:${local.region}:${local.account}:table/${var.athena_database}/*",
      ]
    }
  }

  statement {
    sid       = "WatchStreams"
    actions   = ["kinesis:DescribeStreamSummary", "kinesis:ListShards"]
    resources = var.kinesis_stream_arns
  }

  statement {
    sid       = "WatchEndpoints"
    actions   = ["sagemaker:DescribeEndpoint", "sagemaker:InvokeEndpoint"]
    resources = var.sagemaker_endpoint_arns
  }

  statement {
    sid       = "ReadCheckpoints"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
    resources = [var.state_table_arn]
  }

  # Metric reads have no resource-level permissions (writes come from task_statements, pinned to the namespace).
  statement {
    sid       = "ReadPipelineMetrics"
    actions   = ["cloudwatch:GetMetricData"]
    resources = ["*"]
  }
}

# -- services --------------------------------------------------------------------------------------
resource "aws_ecs_task_definition" "this" {
  for_each                 = local.services
  family                   = "${var.name}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = each.value.cpu
  memory                   = each.value.memory
  execution_role_arn       = module.execution_role.arn
  task_role_arn            = module.task_role.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name = "scratch"
  }

  container_definitions = jsonencode([{
    name                   = each.key
    image                  = var.image_uri
    essential              = true
    command                = each.value.command
    readonlyRootFilesystem = true
    user                   = "10001"
    portMappings           = each.value.port == null ? [] : [{ containerPort = each.value.port, protocol = "tcp" }]
    mountPoints            = [{ sourceVolume = "scratch", containerPath = var.scratch_path, readOnly = false }]
    environment = [for key in sort(keys(merge(var.environment, local.pg_environment))) :
    { name = key, value = merge(var.environment, local.pg_environment)[key] }]
    secrets = [{ name = "DAGSTER_PG_PASSWORD", valueFrom = "${local.db_secret}:password::" }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.this.name
        awslogs-region        = local.region
        awslogs-stream-prefix = each.key
      }
    }
  }])
}

resource "aws_ecs_service" "this" {
  for_each        = local.services
  name            = "${var.name}-${each.key}"
  cluster         = aws_ecs_cluster.this.id
  task_definition = aws_ecs_task_definition.this[each.key].arn
  launch_type     = "FARGATE"
  desired_count   = 1
  # The daemon must never run twice (schedules and sensors would fire twice).
  deployment_minimum_healthy_percent = each.key == "daemon" ? 0 : 100
  deployment_maximum_percent         = each.key == "daemon" ? 100 : 200
  propagate_tags                     = "SERVICE"

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }

  dynamic "service_registries" {
    for_each = contains(keys(aws_service_discovery_service.this), each.key) ? [aws_service_discovery_service.this[each.key].arn] : []
    content {
      registry_arn = service_registries.value
    }
  }
}
