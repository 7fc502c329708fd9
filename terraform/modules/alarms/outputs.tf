output "sns_topic_arn" {
  description = "ARN of the alarm topic (subscribe chat/paging integrations to it)."
  value       = aws_sns_topic.this.arn
}

output "kms_key_arn" {
  description = "KMS key of the alarm topic."
  value       = local.kms_key_arn
}

output "alarm_arns" {
  description = "ARNs of all alarms, keyed by alarm name."
  value = merge(
    { (aws_cloudwatch_metric_alarm.unhealthy_hosts.alarm_name) = aws_cloudwatch_metric_alarm.unhealthy_hosts.arn },
    { (aws_cloudwatch_metric_alarm.healthy_hosts.alarm_name) = aws_cloudwatch_metric_alarm.healthy_hosts.arn },
    { for a in aws_cloudwatch_metric_alarm.collector_drops : a.alarm_name => a.arn },
    { for a in aws_cloudwatch_metric_alarm.mirror_skip_fleet : a.alarm_name => a.arn },
    { for a in aws_cloudwatch_metric_alarm.mirror_skip_instance : a.alarm_name => a.arn },
    { for a in aws_cloudwatch_metric_alarm.consumer_lag : a.alarm_name => a.arn },
  )
}
