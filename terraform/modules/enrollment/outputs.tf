output "function_name" {
  description = "Name of the enrollment Lambda function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the enrollment Lambda function."
  value       = aws_lambda_function.this.arn
}

output "role_arn" {
  description = "ARN of the function's IAM role."
  value       = aws_iam_role.this.arn
}

output "policy_json" {
  description = "The function role's inline IAM policy (JSON): what it may do, in this account and through member roles."
  value       = aws_iam_role_policy.this.policy
}

output "instance_running_rule_arn" {
  description = "ARN of the EventBridge rule on EC2 instances entering running."
  value       = aws_cloudwatch_event_rule.instance_running.arn
}

output "schedule_rule_arn" {
  description = "ARN of the EventBridge rule of the scheduled full reconcile."
  value       = aws_cloudwatch_event_rule.schedule.arn
}

output "failures_alarm_arn" {
  description = "ARN of the alarm on the function's Failures metric (EMF, namespace mirrorlake/enroll)."
  value       = aws_cloudwatch_metric_alarm.failures.arn
}

output "errors_alarm_arn" {
  description = "ARN of the alarm on the function's AWS/Lambda Errors."
  value       = aws_cloudwatch_metric_alarm.errors.arn
}

output "log_group_name" {
  description = "Log group of the function (its EMF metric lines are there too)."
  value       = aws_cloudwatch_log_group.this.name
}

output "environment" {
  description = "The function's settings (environment variables read by mirrorlake-enroll, the same as its CLI flags)."
  value       = local.environment
}

output "deployment_instance_tags" {
  description = "Tags of the deployment's own instances that select_tags was checked against (never enrolled)."
  value       = var.deployment_instance_tags
}
