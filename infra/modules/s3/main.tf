# The lake bucket (posts/, compacted/, media/, errors/, models/) and the bucket its access logs go to.
# Both: no public access, encrypted by default, TLS only, versioned; the lake expires what it keeps per
# prefix. The lake uses the environment's KMS key; the logs bucket uses SSE-S3: S3's log delivery
# writes to an SSE-S3 target with no further grant, whereas a KMS default needs the key policy to let
# the logging service use the key, and without that every delivery fails silently.

resource "aws_s3_bucket" "lake" {
  bucket        = var.bucket_name
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket" "logs" {
  #checkov:skip=CKV_AWS_145:the server access log target is SSE-S3 on purpose (log delivery needs no KMS grant)
  bucket        = "${var.bucket_name}-access-logs"
  force_destroy = var.force_destroy
}

locals {
  # Settings both buckets share are applied to each through this map.
  buckets = {
    lake = aws_s3_bucket.lake
    logs = aws_s3_bucket.logs
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each                = local.buckets
  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = local.buckets
  bucket   = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "lake" {
  bucket = aws_s3_bucket.lake.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

# The target of server access logging: SSE-S3 is the encryption S3's log delivery can write to.
resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.this["lake"]
  to   = aws_s3_bucket_server_side_encryption_configuration.lake
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.this["logs"]
  to   = aws_s3_bucket_server_side_encryption_configuration.logs
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = local.buckets
  bucket   = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

data "aws_iam_policy_document" "tls_only" {
  for_each = local.buckets
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    resources = [each.value.arn, "${each.value.arn}/*"]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  dynamic "statement" {
    for_each = each.key == "logs" ? [1] : []
    content {
      sid       = "S3ServerAccessLogsFromTheLake"
      actions   = ["s3:PutObject"]
      resources = ["${each.value.arn}/lake/*"]
      principals {
        type        = "Service"
        identifiers = ["logging.s3.amazonaws.com"]
      }
      condition {
        test     = "ArnLike"
        variable = "aws:SourceArn"
        values   = [aws_s3_bucket.lake.arn]
      }
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  for_each   = local.buckets
  bucket     = each.value.id
  policy     = data.aws_iam_policy_document.tls_only[each.key].json
  depends_on = [aws_s3_bucket_public_access_block.this]
}

resource "aws_s3_bucket_logging" "lake" {
  bucket        = aws_s3_bucket.lake.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "lake/"
}

# EventBridge gets every object event, so Dagster sensors or future consumers can react without
# listing the bucket.
resource "aws_s3_bucket_notification" "this" {
  for_each    = local.buckets
  bucket      = each.value.id
  eventbridge = true
}

resource "aws_s3_bucket_lifecycle_configuration" "lake" {
  bucket = aws_s3_bucket.lake.id

  # Raw Firehose output: superseded by compacted/ once Dagster has compacted an hour.
  rule {
    id     = "posts"
    status = "Enabled"
    filter {
      prefix = var.posts_prefix
    }
    transition {
      days          = var.posts_ia_after_days
      storage_class = "STANDARD_IA"
    }
    expiration {
      days = var.posts_expire_after_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  rule {
    id     = "media"
    status = "Enabled"
    filter {
      prefix = var.media_prefix
    }
    expiration {
      days = var.media_expire_after_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  rule {
    id     = "errors"
    status = "Enabled"
    filter {
      prefix = var.errors_prefix
    }
    expiration {
      days = var.errors_expire_after_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  # Everything else (compacted/, models/): keep current versions, drop old ones after a while.
  rule {
    id     = "noncurrent-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_expire_after_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    id     = "expire-access-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.access_logs_expire_after_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}
