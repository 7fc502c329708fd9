output "security_group_id" {
  description = "Security group of the aggregators (allow it on the MSK brokers' port 9098)."
  value       = aws_security_group.this.id
}

output "autoscaling_group_name" {
  description = "Name of the aggregators' Auto Scaling group."
  value       = module.fleet.autoscaling_group_name
}

output "iam_role_name" {
  description = "Name of the aggregators' instance role."
  value       = module.fleet.iam_role_name
}

output "iam_role_arn" {
  description = "ARN of the aggregators' instance role (grant it on the lake KMS key policy if that key policy does not delegate to IAM)."
  value       = module.fleet.iam_role_arn
}

output "kafka_topic_arn" {
  description = "ARN of the topic the aggregators may read."
  value       = local.kafka_topic_arn
}

output "kafka_group_arn" {
  description = "ARN of the consumer group the aggregators may use."
  value       = local.kafka_group_arn
}

output "user_data" {
  description = "Rendered cloud-init user data (no secrets)."
  value       = module.fleet.user_data
}

output "instance_tags" {
  description = "Tags every aggregator instance carries (enrollment's deployment_instance_tags: the plan fails when its select_tags would select one)."
  value       = module.fleet.instance_tags
}
