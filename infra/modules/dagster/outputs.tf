output "cluster_name" {
  description = "ECS cluster of the Dagster services and runs."
  value       = aws_ecs_cluster.this.name
}

output "webserver_host" {
  description = "Private DNS name of the webserver (port var.webserver_port)."
  value       = "webserver.${var.service_discovery_namespace}"
}

output "code_server_host" {
  description = "Private DNS name of the code server (workspace.yaml)."
  value       = local.code_host
}

output "db_address" {
  description = "Postgres host."
  value       = aws_db_instance.this.address
}
