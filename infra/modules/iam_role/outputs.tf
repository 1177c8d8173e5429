output "arn" {
  description = "Role ARN (what a service is given). Depend on the module, not only this, when the workload needs its permissions at start."
  value       = aws_iam_role.this.arn
}

output "name" {
  description = "Role name."
  value       = aws_iam_role.this.name
}
