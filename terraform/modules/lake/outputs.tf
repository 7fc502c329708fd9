output "bucket_name" {
  description = "Name of the lake bucket."
  value       = aws_s3_bucket.this["lake"].bucket
}

output "bucket_arn" {
  description = "ARN of the lake bucket."
  value       = aws_s3_bucket.this["lake"].arn
}

output "prefix" {
  description = "Key prefix of the lake inside the bucket (no slashes at either end; \"\" = root)."
  value       = var.prefix
}

output "table_locations" {
  description = "S3 location of each table."
  value       = { for t, tbl in aws_glue_catalog_table.this : t => tbl.storage_descriptor[0].location }
}

output "kms_key_arn" {
  description = "KMS key of both buckets and the Athena results."
  value       = local.kms_key_arn
}

output "results_bucket_name" {
  description = "Name of the Athena results bucket."
  value       = aws_s3_bucket.this["results"].bucket
}

output "database_name" {
  description = "Glue database of the lake tables."
  value       = aws_glue_catalog_database.this.name
}

output "table_names" {
  description = "Glue tables created (one per columns file)."
  value       = keys(aws_glue_catalog_table.this)
}

output "workgroup_name" {
  description = "Athena workgroup to run queries in (its settings are enforced)."
  value       = aws_athena_workgroup.this.name
}

output "named_query_ids" {
  description = "Athena named query ids keyed by query name."
  value       = { for k, q in aws_athena_named_query.this : q.name => q.id }
}

output "object_lock" {
  description = "Object Lock default retention of the lake bucket (null when disabled)."
  value       = var.object_lock
}
