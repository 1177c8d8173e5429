# Tagged stream -> Parquet in the lake. The JSON records are converted with the Glue table's schema
# (so the lake has exactly the columns records.py defines); files land under
# posts/YYYY/MM/DD/HH/ (UTC arrival hour) and failed records under errors/delivery-<type>/YYYY/MM/DD/HH/,
# the layout fraud_pipeline/lake/paths.py reads. Account records (operation "account": an
# account's verdict changed, fraud_pipeline/accounts/lake_table.py) share the schema and land
# under accounts/YYYY/MM/DD/HH/ instead: dynamic partitioning picks the prefix from `operation`,
# as the local delivery (workers/delivery.py) does.
data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  glue_arn_prefix = "arn:${data.aws_partition.current.partition}:glue:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}"
  time_path       = "!{timestamp:yyyy}/!{timestamp:MM}/!{timestamp:dd}/!{timestamp:HH}/"
  # The prefix of each record, without its slash (a partition key value).
  posts_dir    = trimsuffix(var.posts_prefix, "/")
  accounts_dir = trimsuffix(var.accounts_prefix, "/")
  prefix_query = "{table: (if .operation == \"account\" then \"${local.accounts_dir}\" else \"${local.posts_dir}\" end)}"
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/kinesisfirehose/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_cloudwatch_log_stream" "s3" {
  name           = "S3Delivery"
  log_group_name = aws_cloudwatch_log_group.this.name
}

module "role" {
  source      = "../iam_role"
  name        = "${var.name}-firehose"
  service     = "firehose.amazonaws.com"
  external_id = data.aws_caller_identity.current.account_id
  policy_name = "deliver"
  policy_json = data.aws_iam_policy_document.this.json
}

# The environment key: decrypt the stream, encrypt what lands in the lake.
module "shared_statements" {
  source       = "../iam_statements"
  include_kms  = true
  kms_key_arns = [var.kms_key_arn]
  kms_actions  = ["kms:Decrypt", "kms:GenerateDataKey"]
}

data "aws_iam_policy_document" "this" {
  source_policy_documents = [module.shared_statements.json]

  statement {
    sid = "ReadTaggedStream"
    actions = [
      "kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetShardIterator",
      "kinesis:GetRecords", "kinesis:ListShards",
    ]
    resources = [var.source_stream_arn]
  }

  statement {
    sid       = "LocateBucket"
    actions   = ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"]
    resources = [var.bucket_arn]
  }

  statement {
    sid     = "WritePostsAccountsAndErrors"
    actions = ["s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject"]
    resources = [
      "${var.bucket_arn}/${var.posts_prefix}*",
      "${var.bucket_arn}/${var.accounts_prefix}*",
      "${var.bucket_arn}/${var.errors_prefix}*",
    ]
  }

  statement {
    sid     = "ReadTableSchema"
    actions = ["glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"]
    resources = [
      "${local.glue_arn_prefix}:catalog",
      "${local.glue_arn_prefix}:database/${var.glue_database}",
      "${local.glue_arn_prefix}:table/${var.glue_database}/${var.glue_table}",
    ]
  }

  statement {
    sid       = "WriteDeliveryLogs"
    actions   = ["logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:log-stream:*"]
  }
}

resource "aws_kinesis_firehose_delivery_stream" "this" {
  name        = var.name
  destination = "extended_s3"

  kinesis_source_configuration {
    kinesis_stream_arn = var.source_stream_arn
    role_arn           = module.role.arn
  }

  extended_s3_configuration {
    role_arn            = module.role.arn
    bucket_arn          = var.bucket_arn
    prefix              = "!{partitionKeyFromQuery:table}/${local.time_path}"
    error_output_prefix = "${var.errors_prefix}delivery-!{firehose:error-output-type}/${local.time_path}"
    buffering_size      = var.buffering_size_mb
    buffering_interval  = var.buffering_interval_s
    kms_key_arn         = var.kms_key_arn
    # Parquet conversion requires UNCOMPRESSED here; the Parquet serializer compresses.
    compression_format = "UNCOMPRESSED"

    # posts/ or accounts/ by the record's operation (needs a buffer of at least 64 MB).
    dynamic_partitioning_configuration {
      enabled = true
    }

    processing_configuration {
      enabled = true
      processors {
        type = "MetadataExtraction"
        parameters {
          parameter_name  = "MetadataExtractionQuery"
          parameter_value = local.prefix_query
        }
        parameters {
          parameter_name  = "JsonParsingEngine"
          parameter_value = "JQ-1.6"
        }
      }
    }

    cloudwatch_logging_options {
      enabled         = true
      log_group_name  = aws_cloudwatch_log_group.this.name
      log_stream_name = aws_cloudwatch_log_stream.s3.name
    }

    data_format_conversion_configuration {
      enabled = true

      input_format_configuration {
        deserializer {
          # time_utc is ISO 8601 with microseconds and a trailing Z (records.iso_from_us).
          hive_json_ser_de {
            timestamp_formats = ["yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'"]
          }
        }
      }

      output_format_configuration {
        serializer {
          parquet_ser_de {
            compression = "SNAPPY"
          }
        }
      }

      schema_configuration {
        database_name = var.glue_database
        table_name    = var.glue_table
        role_arn      = module.role.arn
        region        = data.aws_region.current.name
        catalog_id    = data.aws_caller_identity.current.account_id
        version_id    = "LATEST"
      }
    }
  }

  depends_on = [module.role]
}
