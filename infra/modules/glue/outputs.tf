output "database_name" {
  description = "Glue database."
  value       = aws_glue_catalog_database.this.name
}

output "raw_table_name" {
  description = "Table Firehose converts against."
  value       = aws_glue_catalog_table.raw.name
}

output "compacted_table_name" {
  description = "Table over the compacted lake."
  value       = aws_glue_catalog_table.compacted.name
}

output "database_arn" {
  description = "ARN of the Glue database."
  value       = aws_glue_catalog_database.this.arn
}

output "raw_table_arn" {
  description = "ARN of the raw table."
  value       = aws_glue_catalog_table.raw.arn
}

output "compacted_table_arn" {
  description = "ARN of the compacted table."
  value       = aws_glue_catalog_table.compacted.arn
}
