# The roles moved into modules/iam_role: these keep state written before the move, so Terraform
# re-addresses the existing roles and policies instead of replacing them. Drop once every environment
# has applied a version with them.
# (The attachment's key is the policy ARN in the `aws` partition, where these environments run.)

moved {
  from = aws_iam_role.execution
  to   = module.execution_role.aws_iam_role.this
}

moved {
  from = aws_iam_role_policy.execution
  to   = module.execution_role.aws_iam_role_policy.this[0]
}

moved {
  from = aws_iam_role.task
  to   = module.task_role.aws_iam_role.this
}

moved {
  from = aws_iam_role_policy.task
  to   = module.task_role.aws_iam_role_policy.this[0]
}

moved {
  from = aws_iam_role.rds_monitoring
  to   = module.rds_monitoring_role.aws_iam_role.this
}

moved {
  from = aws_iam_role_policy_attachment.rds_monitoring
  to   = module.rds_monitoring_role.aws_iam_role_policy_attachment.managed["arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"]
}
