# One real-time endpoint serving one model (text or media) from a model.tar.gz under models/ in the
# lake, with the project's inference image (infra/docker/inference.Dockerfile: `serve` on :8080, /ping,
# /invocations). A new model_data_url makes a new model and endpoint config; SageMaker then shifts
# the endpoint to it without downtime (blue/green), which is how a new model is rolled out.
data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

module "role" {
  source      = "../iam_role"
  name        = "${var.endpoint_name}-sagemaker"
  service     = "sagemaker.amazonaws.com"
  policy_name = "serve-model"
  policy_json = data.aws_iam_policy_document.this.json
}

# Pull the inference image; the environment key for the instances' volumes (CreateGrant: SageMaker
# attaches them encrypted on the role's behalf).
module "shared_statements" {
  source              = "../iam_statements"
  include_kms         = true
  kms_key_arns        = [var.kms_key_arn]
  kms_actions         = ["kms:Decrypt", "kms:GenerateDataKey", "kms:CreateGrant"]
  include_ecr_pull    = true
  ecr_repository_arns = [var.ecr_repository_arn]
}

data "aws_iam_policy_document" "this" {
  source_policy_documents = [module.shared_statements.json]

  statement {
    sid       = "ReadModelArtifacts"
    actions   = ["s3:GetObject"]
    resources = ["${var.bucket_arn}/${var.models_prefix}*"]
  }

  statement {
    sid       = "WriteEndpointLogs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:/aws/sagemaker/Endpoints/${var.endpoint_name}:*"]
  }

  # The ENI calls of VPC-attached models have no resource-level permissions for Describe*.
  statement {
    sid = "VpcNetworking"
    actions = [
      "ec2:CreateNetworkInterface", "ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface",
      "ec2:DeleteNetworkInterfacePermission", "ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs",
      "ec2:DescribeDhcpOptions", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups",
    ]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [data.aws_region.current.name]
    }
  }
}

resource "aws_security_group" "this" {
  name        = "${var.endpoint_name}-model"
  description = "Model containers: network isolation, so no traffic of their own"
  vpc_id      = var.vpc_id
}

resource "aws_sagemaker_model" "this" {
  execution_role_arn       = module.role.arn
  enable_network_isolation = true

  primary_container {
    image          = var.image_uri
    model_data_url = var.model_data_url
    environment    = var.environment
  }

  vpc_config {
    subnets            = var.subnet_ids
    security_group_ids = [aws_security_group.this.id]
  }

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [module.role]
}

resource "aws_sagemaker_endpoint_configuration" "this" {
  name_prefix = "${var.endpoint_name}-"
  kms_key_arn = var.kms_key_arn

  production_variants {
    variant_name           = "primary"
    model_name             = aws_sagemaker_model.this.name
    instance_type          = var.instance_type
    initial_instance_count = var.min_instances
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_sagemaker_endpoint" "this" {
  name                 = var.endpoint_name
  endpoint_config_name = aws_sagemaker_endpoint_configuration.this.name
}

resource "aws_appautoscaling_target" "this" {
  service_namespace  = "sagemaker"
  resource_id        = "endpoint/${aws_sagemaker_endpoint.this.name}/variant/primary"
  scalable_dimension = "sagemaker:variant:DesiredInstanceCount"
  min_capacity       = var.min_instances
  max_capacity       = var.max_instances
}

resource "aws_appautoscaling_policy" "invocations" {
  name               = "${var.endpoint_name}-invocations"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this.service_namespace
  resource_id        = aws_appautoscaling_target.this.resource_id
  scalable_dimension = aws_appautoscaling_target.this.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.target_invocations_per_instance
    scale_in_cooldown  = var.scale_in_cooldown_s
    scale_out_cooldown = var.scale_out_cooldown_s

    predefined_metric_specification {
      predefined_metric_type = "SageMakerVariantInvocationsPerInstance"
    }
  }
}
