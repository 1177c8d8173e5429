# A long-running Fargate service for the ingest task: exactly one writer (a deploy stops the old task
# before starting the new one, so two never read Jetstream and resume from the same cursor), restarted
# by ECS when it exits, rolled back when a deploy keeps failing, logs in CloudWatch.
data "aws_region" "current" {}

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

resource "aws_security_group" "this" {
  name        = "${var.name}-task"
  description = "Ingest task: no inbound; HTTPS/WSS out to Jetstream and AWS APIs"
  vpc_id      = var.vpc_id

  egress {
    description = "HTTPS and WSS out"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

# -- execution role: what ECS needs to start the task -----------------------------------------
module "execution_role" {
  source      = "../iam_role"
  name        = "${var.name}-execution"
  service     = "ecs-tasks.amazonaws.com"
  policy_name = "start-task"
  policy_json = data.aws_iam_policy_document.execution.json
}

# Pull the image and decrypt its layers with the environment key.
module "execution_statements" {
  source              = "../iam_statements"
  include_kms         = true
  kms_sid             = "DecryptImageLayers"
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
}

# -- task role: what the ingest process itself may do ------------------------------------------
module "task_role" {
  source      = "../iam_role"
  name        = "${var.name}-task"
  service     = "ecs-tasks.amazonaws.com"
  policy_name = "ingest"
  policy_json = data.aws_iam_policy_document.task.json
}

# The environment key and the pipeline's metrics namespace, as every workload role gets them.
module "task_statements" {
  source              = "../iam_statements"
  include_kms         = true
  kms_key_arns        = [var.kms_key_arn]
  kms_actions         = ["kms:GenerateDataKey", "kms:Decrypt"]
  include_put_metrics = true
  metric_namespace    = var.metric_namespace
}

data "aws_iam_policy_document" "task" {
  source_policy_documents = [module.task_statements.json]

  statement {
    sid       = "WriteUntaggedStream"
    actions   = ["kinesis:PutRecord", "kinesis:PutRecords", "kinesis:DescribeStreamSummary", "kinesis:ListShards"]
    resources = var.kinesis_write_stream_arns
  }

  statement {
    sid       = "CursorAndCounters"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem"]
    resources = [var.state_table_arn]
  }

  statement {
    sid       = "WriteErrorRecordsAndMedia"
    actions   = ["s3:PutObject"]
    resources = [for prefix in var.s3_write_prefixes : "${var.bucket_arn}/${prefix}*"]
  }
}

resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory_mb
  execution_role_arn       = module.execution_role.arn
  task_role_arn            = module.task_role.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  # Scratch space for the process's home folder; the root filesystem stays read-only.
  volume {
    name = "scratch"
  }

  container_definitions = jsonencode([{
    name                   = "ingest"
    image                  = var.image_uri
    essential              = true
    command                = var.command
    readonlyRootFilesystem = true
    user                   = "10001"
    environment            = [for key in sort(keys(var.environment)) : { name = key, value = var.environment[key] }]
    mountPoints            = [{ sourceVolume = "scratch", containerPath = var.scratch_path, readOnly = false }]
    stopTimeout            = 30
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.this.name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = "ingest"
      }
    }
  }])
}

resource "aws_ecs_service" "this" {
  name                               = var.name
  cluster                            = aws_ecs_cluster.this.id
  task_definition                    = aws_ecs_task_definition.this.arn
  launch_type                        = "FARGATE"
  desired_count                      = 1
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100
  enable_execute_command             = false
  propagate_tags                     = "SERVICE"

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.this.id]
    assign_public_ip = false
  }
}
