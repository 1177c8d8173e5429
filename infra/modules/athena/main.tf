# Athena, the distributed engine over the same lake: a workgroup whose settings every query must
# use (results location, KMS encryption, a bytes-scanned limit per query, CloudWatch metrics),
# and the Glue database dbt-athena builds the marts in. Athena reads the Glue tables the glue
# module defines and Dagster keeps partitioned, so the same dbt project runs on DuckDB (one
# task) or Athena (many) without copying data. docs/orchestration.md says when to switch.

resource "aws_athena_workgroup" "this" {
  name          = var.workgroup_name
  description   = "Fraud-pipeline analytics: dbt marts and ad hoc queries over the lake."
  force_destroy = var.force_destroy

  configuration {
    # Clients cannot override the results location, encryption or the scan limit.
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.bytes_scanned_cutoff_per_query

    engine_version {
      selected_engine_version = "Athena engine version 3"
    }

    result_configuration {
      output_location = "s3://${var.bucket_name}/${var.results_prefix}"

      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = var.kms_key_arn
      }
    }
  }
}

# The schema dbt-athena writes the marts to (their data under marts_prefix in the lake bucket).
resource "aws_glue_catalog_database" "marts" {
  name         = var.marts_database_name
  description  = "Dashboard tables (dbt marts) built by Athena from the lake tables."
  location_uri = "s3://${var.bucket_name}/${var.marts_prefix}"
}
