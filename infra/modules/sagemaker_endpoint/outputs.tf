output "endpoint_name" {
  description = "Name of the endpoint."
  value       = aws_sagemaker_endpoint.this.name
}

output "endpoint_arn" {
  description = "ARN of the endpoint (the scoring Lambda may invoke it)."
  value       = aws_sagemaker_endpoint.this.arn
}
