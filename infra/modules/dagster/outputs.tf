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

output "db_name" {
  description = "Database the Dagster storage uses (the labeler keeps its own schema in it)."
  value       = var.db_name
}

output "db_username" {
  description = "Master user of the database."
  value       = var.db_username
}

output "db_secret_arn" {
  description = "RDS-managed secret holding the master user's password."
  value       = local.db_secret
}

output "db_security_group_id" {
  description = "Security group of the database (other services add their own ingress rule)."
  value       = aws_security_group.db.id
}
