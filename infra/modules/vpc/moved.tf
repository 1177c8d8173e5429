# The roles moved into modules/iam_role: these keep state written before the move, so Terraform
# re-addresses the existing roles and policies instead of replacing them. Drop once every environment
# has applied a version with them.

moved {
  from = aws_iam_role.flow
  to   = module.flow_role.aws_iam_role.this
}

moved {
  from = aws_iam_role_policy.flow
  to   = module.flow_role.aws_iam_role_policy.this[0]
}
