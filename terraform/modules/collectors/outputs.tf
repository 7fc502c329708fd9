output "security_group_id" {
  description = "Security group of the collectors. Pass it to mirror-sessions as excluded_security_group_ids (and use it to find the collectors' ENIs for excluded_eni_ids)."
  value       = aws_security_group.this.id
}

output "autoscaling_group_name" {
  description = "Name of the collectors' Auto Scaling group."
  value       = aws_autoscaling_group.this.name
}

output "autoscaling_group_arn" {
  description = "ARN of the collectors' Auto Scaling group."
  value       = aws_autoscaling_group.this.arn
}

output "launch_template_id" {
  description = "Id of the collectors' launch template."
  value       = aws_launch_template.this.id
}

output "iam_role_name" {
  description = "Name of the collectors' instance role."
  value       = aws_iam_role.this.name
}

output "iam_role_arn" {
  description = "ARN of the collectors' instance role."
  value       = aws_iam_role.this.arn
}

output "lifecycle_hook_name" {
  description = "Name of the termination lifecycle hook the instances complete after draining."
  value       = aws_autoscaling_lifecycle_hook.drain.name
}

output "kafka_topic_arn" {
  description = "ARN of the Kafka topic the collectors may write to."
  value       = local.kafka_topic_arn
}

output "user_data" {
  description = "Rendered cloud-init user data (no secrets: the instances authenticate with their role)."
  value       = local.user_data
}
