# The Glue catalog of the lake. Columns come from columns.json, which
# infra/scripts/gen_glue_columns.py writes from fraud_pipeline.records.glue_columns() (a test keeps
# them equal), so Firehose's JSON -> Parquet conversion and Athena read the schema the code writes.

locals {
  columns = jsondecode(file("${path.module}/columns.json"))
}

resource "aws_glue_catalog_database" "this" {
  name        = var.database_name
  description = "Fraud-pipeline lake (${var.database_name})"
}

# Raw Firehose output under posts/YYYY/MM/DD/HH/. Partition projection computes the partitions
# from the key layout, so nothing has to add them and Athena prunes by hour.
resource "aws_glue_catalog_table" "raw" {
  name          = var.raw_table_name
  database_name = aws_glue_catalog_database.this.name
  table_type    = "EXTERNAL_TABLE"
  description   = "Tagged posts as Firehose delivers them (small files, at-least-once)."

  parameters = {
    EXTERNAL                        = "TRUE"
    "parquet.compression"           = "SNAPPY"
    "classification"                = "parquet"
    "projection.enabled"            = "true"
    "projection.hour.type"          = "date"
    "projection.hour.format"        = "yyyy/MM/dd/HH"
    "projection.hour.range"         = "${var.projection_start},NOW"
    "projection.hour.interval"      = "1"
    "projection.hour.interval.unit" = "HOURS"
    "storage.location.template"     = "s3://${var.bucket_name}/${var.posts_prefix}$${hour}/"
  }

  partition_keys {
    name    = "hour"
    type    = "string"
    comment = "UTC arrival hour, yyyy/MM/dd/HH"
  }

  storage_descriptor {
    location      = "s3://${var.bucket_name}/${var.posts_prefix}"
    input_format  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"

    ser_de_info {
      name                  = "parquet"
      serialization_library = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
      parameters            = { "serialization.format" = "1" }
    }

    dynamic "columns" {
      for_each = local.columns
      content {
        name = columns.value.Name
        type = columns.value.Type
      }
    }
  }
}

# Deduplicated hourly lake written by Dagster under compacted/dt=YYYY-MM-DD/hour=HH/; Dagster
# registers each partition when it writes it (BatchCreatePartition).
resource "aws_glue_catalog_table" "compacted" {
  name          = var.compacted_table_name
  database_name = aws_glue_catalog_database.this.name
  table_type    = "EXTERNAL_TABLE"
  description   = "Tagged posts, deduplicated per hour, deletes applied."

  parameters = {
    EXTERNAL              = "TRUE"
    "parquet.compression" = "ZSTD"
    "classification"      = "parquet"
  }

  partition_keys {
    name = "dt"
    type = "string"
  }

  partition_keys {
    name = "hour"
    type = "string"
  }

  storage_descriptor {
    location      = "s3://${var.bucket_name}/${var.compacted_prefix}"
    input_format  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"

    ser_de_info {
      name                  = "parquet"
      serialization_library = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
      parameters            = { "serialization.format" = "1" }
    }

    dynamic "columns" {
      for_each = local.columns
      content {
        name = columns.value.Name
        type = columns.value.Type
      }
    }
  }
}

# Catalog metadata (and connection passwords, of which there are none) encrypted with the env key.
resource "aws_glue_data_catalog_encryption_settings" "this" {
  count = var.manage_catalog_encryption ? 1 : 0
  data_catalog_encryption_settings {
    connection_password_encryption {
      return_connection_password_encrypted = true
      aws_kms_key_id                       = var.kms_key_arn
    }
    encryption_at_rest {
      catalog_encryption_mode = "SSE-KMS"
      sse_aws_kms_key_id      = var.kms_key_arn
    }
  }
}
