output "security_group_id" {
  description = "Security group of the collectors. Pass it to mirror-sessions as excluded_security_group_ids (and use it to find the collectors' ENIs for excluded_eni_ids)."
  value       = aws_security_group.this.id
}

output "autoscaling_group_name" {
  description = "Name of the collectors' Auto Scaling group."
  value       = module.fleet.autoscaling_group_name
}

output "autoscaling_group_arn" {
  description = "ARN of the collectors' Auto Scaling group."
  value       = module.fleet.autoscaling_group_arn
}

output "launch_template_id" {
  description = "Id of the collectors' launch template."
  value       = module.fleet.launch_template_id
}

output "iam_role_name" {
  description = "Name of the collectors' instance role."
  value       = module.fleet.iam_role_name
}

output "iam_role_arn" {
  description = "ARN of the collectors' instance role."
  value       = module.fleet.iam_role_arn
}

output "iam_policy" {
  description = "The collectors' own inline policy on the instance role (JSON): MSK produce in cluster mode, the lake prefix and key in single_node mode, and the lifecycle action."
  value       = aws_iam_role_policy.this.policy
}

output "lifecycle_hook_name" {
  description = "Name of the termination lifecycle hook the instances complete after draining."
  value       = module.fleet.lifecycle_hook_name
}

output "kafka_topic_arn" {
  description = "ARN of the Kafka topic the collectors may write to."
  value       = local.kafka_topic_arn
}

output "user_data" {
  description = "Rendered cloud-init user data (no secrets: the instances authenticate with their role)."
  value       = module.fleet.user_data
}

output "cloudwatch_namespace" {
  description = "CloudWatch namespace of the collectors' metrics: the agent's host metrics and the drop counters scraped from /metrics."
  value       = local.cloudwatch.namespace
}

output "cloudwatch_metric_names" {
  description = "CloudWatch names of the drop counters the collectors publish (per-minute deltas): packets_dropped (mirrorlake_packets_dropped_total, also per reason) and kernel_drops (mirrorlake_kernel_drops_total). Pass them to the alarms module."
  value       = { for k, m in local.cloudwatch.metrics : k => m.name }
}

output "cloudwatch_dimensions" {
  description = "Dimensions of the fleet-level series of the drop counters (the alarms module's dropped_metric_dimensions)."
  value       = { AutoScalingGroupName = module.fleet.autoscaling_group_name }
}

output "metrics_log_group_name" {
  description = "Log group of the drop counters' embedded metric format records (per instance: query it with Logs Insights)."
  value       = aws_cloudwatch_log_group.prometheus.name
}

output "ingress_cidr_blocks" {
  description = "CIDR blocks the security group admits, per port: vxlan (UDP from the mirror sources), health (the health/metrics port: NLB health checks), metrics (the same port: the monitoring networks) and gwlb (target_kind = gwlb: the GWLB's subnets, on UDP 6081 and the health port)."
  value = {
    vxlan   = sort(keys(aws_vpc_security_group_ingress_rule.vxlan))
    health  = sort(keys(aws_vpc_security_group_ingress_rule.health_cidr))
    metrics = sort(keys(aws_vpc_security_group_ingress_rule.metrics_cidr))
    gwlb    = sort(local.gwlb_cidr_blocks)
  }
}

output "instance_tags" {
  description = "Tags every collector instance carries (enrollment's deployment_instance_tags: the plan fails when its select_tags would select one)."
  value       = module.fleet.instance_tags
}
