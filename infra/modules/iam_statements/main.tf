# The statements nearly every workload role repeats, written once: use of the environment's KMS key,
# pulling the workload's image from ECR, and publishing metrics to the pipeline's own namespace.
# Callers merge `json` into their role's document with `source_policy_documents`, so each role still
# reads as one policy next to the resources it names; the parts a role gets are switched on explicitly.
# Nothing here widens a grant: the KMS and ECR statements name the ARNs passed in, and the two calls
# with no resource-level permissions (GetAuthorizationToken, PutMetricData) are the only `*` resources,
# PutMetricData pinned to the namespace by a condition.
data "aws_iam_policy_document" "this" {
  dynamic "statement" {
    for_each = var.include_kms ? [var.kms_sid] : []
    content {
      sid       = statement.value
      actions   = var.kms_actions
      resources = var.kms_key_arns
    }
  }

  dynamic "statement" {
    for_each = var.include_ecr_pull ? ["PullImage"] : []
    content {
      sid       = statement.value
      actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
      resources = var.ecr_repository_arns
    }
  }

  # GetAuthorizationToken has no resource-level permissions.
  dynamic "statement" {
    for_each = var.include_ecr_pull ? ["EcrLogin"] : []
    content {
      sid       = statement.value
      actions   = ["ecr:GetAuthorizationToken"]
      resources = ["*"]
    }
  }

  # PutMetricData has no resource-level permissions; the condition pins the namespace.
  dynamic "statement" {
    for_each = var.include_put_metrics ? ["PutOwnMetrics"] : []
    content {
      sid       = statement.value
      actions   = ["cloudwatch:PutMetricData"]
      resources = ["*"]
      condition {
        test     = "StringEquals"
        variable = "cloudwatch:namespace"
        values   = [var.metric_namespace]
      }
    }
  }

  lifecycle {
    precondition {
      condition     = var.include_kms || var.include_ecr_pull || var.include_put_metrics
      error_message = "Include at least one part (include_kms, include_ecr_pull, include_put_metrics)."
    }
    precondition {
      condition     = !var.include_kms || (length(var.kms_key_arns) > 0 && length(var.kms_actions) > 0)
      error_message = "include_kms needs kms_key_arns and kms_actions."
    }
    precondition {
      condition     = !var.include_ecr_pull || length(var.ecr_repository_arns) > 0
      error_message = "include_ecr_pull needs ecr_repository_arns."
    }
    precondition {
      condition     = !var.include_put_metrics || try(length(var.metric_namespace) > 0, false)
      error_message = "include_put_metrics needs metric_namespace."
    }
  }
}
