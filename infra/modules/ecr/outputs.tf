output "repository_urls" {
  description = "Image name -> repository URL."
  value       = { for name, repo in aws_ecr_repository.this : name => repo.repository_url }
}

output "repository_arns" {
  description = "Image name -> repository ARN."
  value       = { for name, repo in aws_ecr_repository.this : name => repo.arn }
}
