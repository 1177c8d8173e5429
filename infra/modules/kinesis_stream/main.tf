# One stream of the pipeline (untagged posts, or tagged verdicts). Records are encrypted with the
# environment key; shard-level metrics feed the iterator-age widgets and alarms.
resource "aws_kinesis_stream" "this" {
  name                      = var.name
  retention_period          = var.retention_hours
  shard_count               = var.stream_mode == "PROVISIONED" ? var.shard_count : null
  encryption_type           = "KMS"
  kms_key_id                = var.kms_key_arn
  enforce_consumer_deletion = false
  shard_level_metrics       = var.shard_level_metrics

  stream_mode_details {
    stream_mode = var.stream_mode
  }
}
