output "workgroup_name" {
  description = "Athena workgroup."
  value       = aws_athena_workgroup.this.name
}

output "workgroup_arn" {
  description = "ARN of the Athena workgroup (IAM statements of the Dagster task)."
  value       = aws_athena_workgroup.this.arn
}

output "marts_database_name" {
  description = "Glue database of the marts built on Athena."
  value       = aws_glue_catalog_database.marts.name
}
