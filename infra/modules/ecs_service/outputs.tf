output "cluster_name" {
  description = "ECS cluster of the ingest service."
  value       = aws_ecs_cluster.this.name
}

output "service_name" {
  description = "Name of the ingest service."
  value       = aws_ecs_service.this.name
}

output "log_group_name" {
  description = "Log group of the ingest task."
  value       = aws_cloudwatch_log_group.this.name
}
