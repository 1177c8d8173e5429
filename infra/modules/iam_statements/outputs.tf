output "json" {
  description = "Policy document with the included statements; merge it with source_policy_documents."
  value       = data.aws_iam_policy_document.this.json
}
