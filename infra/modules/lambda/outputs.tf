output "function_name" {
  description = "Name of the scoring function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the scoring function."
  value       = aws_lambda_function.this.arn
}

output "failure_queue_name" {
  description = "Name of the on-failure queue."
  value       = aws_sqs_queue.failures.name
}

output "failure_queue_arn" {
  description = "ARN of the on-failure queue."
  value       = aws_sqs_queue.failures.arn
}
