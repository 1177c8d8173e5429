# The labeler on ECS Fargate: publishes the pipeline's `action = label` verdicts to Bluesky as signed
# atproto labels.
#   - the labels worker (`fraud-pipeline labels work`): one task, the tagged stream's second consumer
#     beside Firehose; signs labels with the key in Secrets Manager and stores them in Postgres;
#   - the labeler service (`fraud-pipeline labeler`): `service_count` tasks behind a public HTTPS load
#     balancer (with WAF) serving subscribeLabels (websocket), queryLabels and /.well-known/did.json;
#   - the label store: a `labeler` schema in the Postgres Dagster already runs (durable, ordered seq);
#   - alarms on the worker's stream lag, on the label rate, and on the service's health.
# The signing key is a Secrets Manager secret, not a KMS key: KMS signs one label per call against an
# account-wide asymmetric quota of a few hundred requests/s, below the label rates the pipeline targets
# (fraud_pipeline/labeler/keys.py). The secret is encrypted with the environment key; only the worker
# reads it (the service serves the public key the worker recorded in the store).
data "aws_region" "current" {}

locals {
  region = data.aws_region.current.name
  environment = merge(var.environment, {
    FRAUD_PIPELINE_LABELER_DOMAIN       = var.domain_name
    FRAUD_PIPELINE_LABELER_DATABASE_URL = "postgresql://${var.db_username}@${var.db_address}:5432/${var.db_name}?sslmode=require"
  })
  # libpq reads the password from PGPASSWORD; ECS injects it from the RDS-managed secret.
  secrets = [{ name = "PGPASSWORD", valueFrom = "${var.db_secret_arn}:password::" }]
  tasks = {
    service = {
      command = ["labeler", "--host", "0.0.0.0", "--port", tostring(var.service_port), "--backend", "aws"]
      cpu     = var.service_cpu
      memory  = var.service_memory_mb
      role    = module.service_role.arn
      ports   = [{ containerPort = var.service_port, protocol = "tcp" }]
    }
    worker = {
      command = ["labels", "work", "--backend", "aws"]
      cpu     = var.worker_cpu
      memory  = var.worker_memory_mb
      role    = module.worker_role.arn
      ports   = []
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

# -- the signing key --------------------------------------------------------------------------------
resource "aws_secretsmanager_secret" "signing_key" {
  #checkov:skip=CKV2_AWS_57:A new signing key changes the public key in the labeler's DID document and the signature of every label served; it is an operator's deliberate step (new key, did.json, re-sign), never an automatic rotation.
  name                    = var.signing_key_secret_name
  description             = "The labeler's P-256 signing key (PEM); written by the labels worker on first use"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 30
}

# -- network ----------------------------------------------------------------------------------------
resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "Labeler load balancer: HTTPS from anywhere (clients use https:// and wss:// only)"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from clients and the AppView"
  cidr_ipv4         = "0.0.0.0/0"
  from_port         = 443
  to_port           = 443
  ip_protocol       = "tcp"
}

resource "aws_vpc_security_group_egress_rule" "alb_to_service" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To the labeler service tasks"
  referenced_security_group_id = aws_security_group.tasks.id
  from_port                    = var.service_port
  to_port                      = var.service_port
  ip_protocol                  = "tcp"
}

resource "aws_security_group" "tasks" {
  name        = "${var.name}-tasks"
  description = "Labeler tasks: the service port from the load balancer; AWS APIs and Postgres out"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "service_from_alb" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "Service port from the load balancer"
  referenced_security_group_id = aws_security_group.alb.id
  from_port                    = var.service_port
  to_port                      = var.service_port
  ip_protocol                  = "tcp"
}

resource "aws_vpc_security_group_egress_rule" "tasks_https" {
  security_group_id = aws_security_group.tasks.id
  description       = "AWS APIs (Kinesis, S3, DynamoDB, Secrets Manager, CloudWatch)"
  cidr_ipv4         = "0.0.0.0/0"
  from_port         = 443
  to_port           = 443
  ip_protocol       = "tcp"
}

resource "aws_vpc_security_group_egress_rule" "tasks_to_db" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "The label store (Postgres)"
  referenced_security_group_id = var.db_security_group_id
  from_port                    = 5432
  to_port                      = 5432
  ip_protocol                  = "tcp"
}

resource "aws_vpc_security_group_ingress_rule" "db_from_tasks" {
  security_group_id            = var.db_security_group_id
  description                  = "Postgres from the labeler tasks"
  referenced_security_group_id = aws_security_group.tasks.id
  from_port                    = 5432
  to_port                      = 5432
  ip_protocol                  = "tcp"
}

# -- the public load balancer -----------------------------------------------------------------------
resource "aws_lb" "this" {
  #checkov:skip=CKV_AWS_91:Every request is logged by the WAF in front of it (aws_wafv2_web_acl_logging_configuration, KMS-encrypted log group); ALB access logs would need an SSE-S3 bucket, as ELB cannot write SSE-KMS objects.
  name                       = var.name
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = var.public_subnet_ids
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  idle_timeout               = 120 # subscribers idle between labels; the service pings every 30 s
}

resource "aws_lb_target_group" "service" {
  name                 = var.name
  port                 = var.service_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = 30

  health_check {
    path                = "/xrpc/_health"
    matcher             = "200"
    interval            = 15
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.service.arn
  }
}

# A public endpoint: AWS's managed rules and a per-client request rate cap in front of the service's
# own limits (pattern checks, page sizes, slow-consumer cut-off).
resource "aws_wafv2_web_acl" "this" {
  name  = var.name
  scope = "REGIONAL"

  default_action {
    allow {}
  }

  rule {
    name     = "rate-per-client"
    priority = 1
    action {
      block {}
    }
    statement {
      rate_based_statement {
        limit              = 3000
        aggregate_key_type = "IP"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-rate"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "known-bad-inputs"
    priority = 2
    override_action {
      none {}
    }
    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
        vendor_name = "AWS"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-bad-inputs"
      sampled_requests_enabled   = true
    }
  }

  # Anonymising proxies are blocked, but hosting-provider addresses only counted: the AppView and other
  # labeler consumers run in data centres.
  rule {
    name     = "anonymous-ip"
    priority = 4
    override_action {
      none {}
    }
    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesAnonymousIpList"
        vendor_name = "AWS"
        rule_action_override {
          name = "HostingProviderIPList"
          action_to_use {
            count {}
          }
        }
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-anonymous-ip"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "common"
    priority = 3
    override_action {
      none {}
    }
    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesCommonRuleSet"
        vendor_name = "AWS"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-common"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = var.name
    sampled_requests_enabled   = true
  }
}

# WAF requires the log group's name to start with aws-waf-logs-.
resource "aws_cloudwatch_log_group" "waf" {
  name              = "aws-waf-logs-${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_wafv2_web_acl_logging_configuration" "this" {
  resource_arn            = aws_wafv2_web_acl.this.arn
  log_destination_configs = [aws_cloudwatch_log_group.waf.arn]
}

resource "aws_wafv2_web_acl_association" "this" {
  resource_arn = aws_lb.this.arn
  web_acl_arn  = aws_wafv2_web_acl.this.arn
}

resource "aws_route53_record" "this" {
  count   = var.route53_zone_id == "" ? 0 : 1
  zone_id = var.route53_zone_id
  name    = var.domain_name
  type    = "A"

  alias {
    name                   = aws_lb.this.dns_name
    zone_id                = aws_lb.this.zone_id
    evaluate_target_health = true
  }
}

# -- roles ------------------------------------------------------------------------------------------
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
  kms_sid             = "DecryptImageLayersAndSecrets"
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
    sid       = "DatabasePassword"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.db_secret_arn]
  }
}

# The worker: reads the tagged stream and the policy, signs, writes labels and checkpoints.
module "worker_role" {
  source      = "../iam_role"
  name        = "${var.name}-worker"
  service     = "ecs-tasks.amazonaws.com"
  policy_name = "labels-worker"
  policy_json = data.aws_iam_policy_document.worker.json
}

module "worker_statements" {
  source              = "../iam_statements"
  include_kms         = true
  kms_key_arns        = [var.kms_key_arn]
  kms_actions         = ["kms:GenerateDataKey", "kms:Decrypt"]
  include_put_metrics = true
  metric_namespace    = var.metric_namespace
}

data "aws_iam_policy_document" "worker" {
  source_policy_documents = [module.worker_statements.json]

  statement {
    sid       = "ReadTaggedStream"
    actions   = ["kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:DescribeStreamSummary", "kinesis:ListShards"]
    resources = [var.tagged_stream_arn]
  }

  statement {
    sid = "Checkpoints"
    actions = [
      "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem",
      "dynamodb:TransactWriteItems",
    ]
    resources = [var.state_table_arn]
  }

  statement {
    sid       = "WriteLabelsAndErrors"
    actions   = ["s3:PutObject"]
    resources = [for prefix in var.s3_write_prefixes : "${var.bucket_arn}/${prefix}*"]
  }

  statement {
    sid       = "ReadPolicy"
    actions   = ["s3:GetObject"]
    resources = [for prefix in var.s3_read_prefixes : "${var.bucket_arn}/${prefix}*"]
  }

  statement {
    sid       = "ListPolicy"
    actions   = ["s3:ListBucket"]
    resources = [var.bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [for prefix in var.s3_read_prefixes : "${prefix}*"]
    }
  }

  statement {
    sid       = "SigningKey"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"]
    resources = [aws_secretsmanager_secret.signing_key.arn]
  }
}

# The service only reads the label store (Postgres, password injected at start) and publishes metrics.
module "service_role" {
  source      = "../iam_role"
  name        = "${var.name}-service"
  service     = "ecs-tasks.amazonaws.com"
  policy_name = "labeler-service"
  policy_json = data.aws_iam_policy_document.service.json
}

data "aws_iam_policy_document" "service" {
  source_policy_documents = [module.service_statements.json]
}

module "service_statements" {
  source              = "../iam_statements"
  include_put_metrics = true
  metric_namespace    = var.metric_namespace
}

# -- tasks and services -----------------------------------------------------------------------------
resource "aws_ecs_task_definition" "this" {
  for_each                 = local.tasks
  family                   = "${var.name}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = each.value.cpu
  memory                   = each.value.memory
  execution_role_arn       = module.execution_role.arn
  task_role_arn            = each.value.role

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
    portMappings           = each.value.ports
    environment            = [for key in sort(keys(local.environment)) : { name = key, value = local.environment[key] }]
    secrets                = local.secrets
    mountPoints            = [{ sourceVolume = "scratch", containerPath = var.scratch_path, readOnly = false }]
    stopTimeout            = 30
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

resource "aws_ecs_service" "service" {
  name                               = "${var.name}-service"
  cluster                            = aws_ecs_cluster.this.id
  task_definition                    = aws_ecs_task_definition.this["service"].arn
  launch_type                        = "FARGATE"
  desired_count                      = var.service_count
  deployment_minimum_healthy_percent = 50
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = 60
  enable_execute_command             = false
  propagate_tags                     = "SERVICE"

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.service.arn
    container_name   = "service"
    container_port   = var.service_port
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }

  depends_on = [aws_lb_listener.https]
}

# Exactly one worker: a deploy stops the old task before starting the new one (positions are stored
# with the labels, so the new one resumes where the old one stopped).
resource "aws_ecs_service" "worker" {
  name                               = "${var.name}-worker"
  cluster                            = aws_ecs_cluster.this.id
  task_definition                    = aws_ecs_task_definition.this["worker"].arn
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
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }
}

# -- alarms -----------------------------------------------------------------------------------------
# The worker publishes its lag every 10 s, also when idle: no data means the worker is down.
resource "aws_cloudwatch_metric_alarm" "stream_lag" {
  alarm_name          = "${var.name}-stream-lag"
  alarm_description   = "The labels worker is behind the tagged stream (or not running): labels reach Bluesky late."
  namespace           = var.metric_namespace
  metric_name         = "Labels-Stream-Lag-Ms"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  threshold           = var.max_lag_s * 1000
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = [var.alarm_topic_arn]
  ok_actions          = [var.alarm_topic_arn]
}

resource "aws_cloudwatch_metric_alarm" "label_rate" {
  alarm_name          = "${var.name}-label-rate"
  alarm_description   = "More labels published than expected: a runaway rule or a campaign storm; check before users are flooded."
  namespace           = var.metric_namespace
  metric_name         = "Labels-Published"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.max_labels_per_5min
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.alarm_topic_arn]
  ok_actions          = [var.alarm_topic_arn]
}

resource "aws_cloudwatch_metric_alarm" "unhealthy" {
  alarm_name          = "${var.name}-no-healthy-service"
  alarm_description   = "No healthy labeler service task behind the load balancer: subscribers cannot connect."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HealthyHostCount"
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 3
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  dimensions = {
    LoadBalancer = aws_lb.this.arn_suffix
    TargetGroup  = aws_lb_target_group.service.arn_suffix
  }
  alarm_actions = [var.alarm_topic_arn]
  ok_actions    = [var.alarm_topic_arn]
}
