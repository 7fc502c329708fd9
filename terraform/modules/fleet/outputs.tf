output "autoscaling_group_name" {
  description = "Name of the Auto Scaling group."
  value       = aws_autoscaling_group.this.name
}

output "names" {
  description = "Names derived from name and role, known without waiting for any resource (for configuration that the instances themselves carry): autoscaling_group, lifecycle_hook."
  value = {
    autoscaling_group = local.asg_name
    lifecycle_hook    = local.hook_name
  }
}

output "autoscaling_group_arn" {
  description = "ARN of the Auto Scaling group."
  value       = aws_autoscaling_group.this.arn
}

output "autoscaling_group" {
  description = "The Auto Scaling group resource, every attribute (for callers' outputs and tests)."
  value       = aws_autoscaling_group.this
}

output "launch_template_id" {
  description = "Id of the launch template."
  value       = aws_launch_template.this.id
}

output "launch_template" {
  description = "The launch template resource, every attribute (for callers' outputs and tests)."
  value       = aws_launch_template.this
}

output "lifecycle_hook_name" {
  description = "Name of the termination lifecycle hook the instances complete after draining."
  value       = aws_autoscaling_lifecycle_hook.drain.name
}

output "lifecycle_hook" {
  description = "The termination lifecycle hook resource, every attribute (for callers' outputs and tests)."
  value       = aws_autoscaling_lifecycle_hook.drain
}

output "iam_role_name" {
  description = "Name of the instance role; attach the caller's own policy to it."
  value       = aws_iam_role.this.name
}

output "iam_role_arn" {
  description = "ARN of the instance role."
  value       = aws_iam_role.this.arn
}

output "iam_managed_policy_arns" {
  description = "AWS managed policies attached to the instance role."
  value       = [for a in aws_iam_role_policy_attachment.managed : a.policy_arn]
}

output "instance_policy_statements" {
  description = "IAM policy statements the instance role needs for this module's part (complete its own lifecycle action; download the binary when it comes from S3). Add them to the caller's role policy."
  value       = local.instance_policy_statements
}

output "user_data" {
  description = "Rendered cloud-init user data (no secrets: the instances authenticate with their role)."
  value       = local.user_data
}

output "instance_tags" {
  description = "Tags every instance of the fleet carries (launch template and ASG): for guards that must never select the fleet, such as enrollment's select_tags."
  value       = local.instance_tags
}
