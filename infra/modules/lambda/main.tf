# The scoring Lambda: a container image from ECR, fed by a Kinesis event source mapping that
# batches, splits failing batches, reports per-record failures, retries a bounded number of times and
# parks what still fails on an SQS queue (with the shard and sequence numbers to replay it).
data "aws_partition" "current" {}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_sqs_queue" "failures" {
  name                      = var.failure_queue_name
  message_retention_seconds = 1209600
  kms_master_key_id         = var.kms_key_arn
}

resource "aws_security_group" "this" {
  name        = "${var.function_name}-lambda"
  description = "Scoring Lambda: no inbound; HTTPS out to AWS APIs and endpoints"
  vpc_id      = var.vpc_id

  egress {
    description = "HTTPS to Kinesis, S3, DynamoDB, SageMaker runtime, CloudWatch"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

module "role" {
  source      = "../iam_role"
  name        = "${var.function_name}-lambda"
  service     = "lambda.amazonaws.com"
  policy_name = "scoring"
  policy_json = data.aws_iam_policy_document.this.json
  # ENI management for VPC functions and X-Ray segments have no resource-level permissions: AWS's own
  # narrow managed policies for exactly those.
  managed_policy_arns = [
    "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AWSLambdaENIManagementAccess",
    "arn:${data.aws_partition.current.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess",
  ]
}

# The environment key and the pipeline's metrics namespace, as every workload role gets them.
module "shared_statements" {
  source              = "../iam_statements"
  include_kms         = true
  kms_key_arns        = [var.kms_key_arn]
  kms_actions         = ["kms:Decrypt", "kms:GenerateDataKey"]
  include_put_metrics = true
  metric_namespace    = var.metric_namespace
}

data "aws_iam_policy_document" "this" {
  source_policy_documents = [module.shared_statements.json]

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  statement {
    sid = "ReadUntaggedStream"
    actions = [
      "kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords",
      "kinesis:GetShardIterator", "kinesis:ListShards",
    ]
    resources = [var.source_stream_arn]
  }

  statement {
    sid       = "WriteTaggedStream"
    actions   = ["kinesis:PutRecord", "kinesis:PutRecords", "kinesis:DescribeStreamSummary"]
    resources = [var.tagged_stream_arn]
  }

  statement {
    sid       = "WriteErrorRecords"
    actions   = ["s3:PutObject"]
    resources = ["${var.bucket_arn}/${var.errors_prefix}*"]
  }

  # The detection policy: listed and read every few seconds for a new version (hot reload).
  statement {
    sid       = "ReadDetectionPolicy"
    actions   = ["s3:GetObject"]
    resources = ["${var.bucket_arn}/${var.policy_prefix}*"]
  }

  statement {
    sid       = "ListDetectionPolicy"
    actions   = ["s3:ListBucket"]
    resources = [var.bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.policy_prefix}*"]
    }
  }

  statement {
    sid       = "ReadModelsAndMedia"
    actions   = ["s3:GetObject"]
    resources = ["${var.bucket_arn}/${var.models_prefix}*", "${var.bucket_arn}/${var.media_prefix}*"]
  }

  # Checkpoints, counters and the behaviour sets shared by every shard (TransactWriteItems
  # is authorised per item as UpdateItem; reads are BatchGetItem).
  statement {
    sid       = "CountersAndCheckpoints"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem", "dynamodb:BatchGetItem"]
    resources = [var.state_table_arn]
  }

  statement {
    sid       = "InvokeModels"
    actions   = ["sagemaker:InvokeEndpoint"]
    resources = var.sagemaker_endpoint_arns
  }

  statement {
    sid       = "ParkFailedBatches"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.failures.arn]
  }
}

resource "aws_lambda_function" "this" {
  function_name                  = var.function_name
  role                           = module.role.arn
  package_type                   = "Image"
  image_uri                      = var.image_uri
  architectures                  = ["x86_64"]
  memory_size                    = var.memory_mb
  timeout                        = var.timeout_s
  reserved_concurrent_executions = var.reserved_concurrency
  kms_key_arn                    = var.kms_key_arn

  image_config {
    command = [var.handler]
  }

  environment {
    variables = var.environment
  }

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = [aws_security_group.this.id]
  }

  tracing_config {
    mode = "Active"
  }

  depends_on = [aws_cloudwatch_log_group.this, module.role]
}

resource "aws_lambda_event_source_mapping" "stream" {
  event_source_arn                   = var.source_stream_arn
  function_name                      = aws_lambda_function.this.arn
  starting_position                  = var.starting_position
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.batching_window_s
  parallelization_factor             = var.parallelization_factor
  bisect_batch_on_function_error     = true
  function_response_types            = ["ReportBatchItemFailures"]
  maximum_retry_attempts             = var.maximum_retry_attempts
  maximum_record_age_in_seconds      = var.maximum_record_age_s

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.failures.arn
    }
  }
}
