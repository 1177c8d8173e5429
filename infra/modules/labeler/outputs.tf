output "cluster_name" {
  description = "ECS cluster of the labeler service and the labels worker."
  value       = aws_ecs_cluster.this.name
}

output "load_balancer_dns_name" {
  description = "DNS name of the load balancer (point domain_name at it when DNS is managed elsewhere)."
  value       = aws_lb.this.dns_name
}

output "did" {
  description = "The labeler's identity (publish the service record from the account that owns it)."
  value       = "did:web:${var.domain_name}"
}

output "signing_key_secret_arn" {
  description = "Secret holding the label signing key."
  value       = aws_secretsmanager_secret.signing_key.arn
}
