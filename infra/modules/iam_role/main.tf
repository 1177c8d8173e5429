# A role one AWS service assumes, with the inline policy of what the workload may do and, where AWS
# offers a narrow managed policy for a job with no resource-level permissions, that policy attached.
# Every module's roles are built here, so the trust policy is written once; what each role may do
# stays in the calling module, next to the resources it names.
data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = [var.service]
    }

    # Confused-deputy guard where the service passes one (Firehose passes the account id).
    dynamic "condition" {
      for_each = var.external_id == null ? [] : [var.external_id]
      content {
        test     = "StringEquals"
        variable = "sts:ExternalId"
        values   = [condition.value]
      }
    }
  }
}

resource "aws_iam_role" "this" {
  name               = var.name
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

resource "aws_iam_role_policy" "this" {
  count  = var.policy_name == null ? 0 : 1
  name   = var.policy_name
  role   = aws_iam_role.this.id
  policy = var.policy_json
}

resource "aws_iam_role_policy_attachment" "managed" {
  for_each   = toset(var.managed_policy_arns)
  role       = aws_iam_role.this.name
  policy_arn = each.value
}
