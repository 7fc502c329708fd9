output "traffic_mirror_target_id" {
  description = "Id of the Traffic Mirror target (tmt-...) that mirror sessions send to."
  value       = aws_ec2_traffic_mirror_target.this.id
}

output "traffic_mirror_target_arn" {
  description = "ARN of the Traffic Mirror target."
  value       = aws_ec2_traffic_mirror_target.this.arn
}

output "lb_arn" {
  description = "ARN of the internal NLB."
  value       = aws_lb.this.arn
}

output "lb_arn_suffix" {
  description = "ARN suffix of the NLB (the LoadBalancer dimension of AWS/NetworkELB metrics)."
  value       = aws_lb.this.arn_suffix
}

output "lb_dns_name" {
  description = "DNS name of the NLB (useful only for tests: mirror sessions address the target, not the name)."
  value       = aws_lb.this.dns_name
}

output "target_group_arn" {
  description = "ARN of the UDP target group; attach the collectors' Auto Scaling group to it."
  value       = aws_lb_target_group.this.arn
}

output "target_group_arn_suffix" {
  description = "ARN suffix of the target group (the TargetGroup dimension of AWS/NetworkELB metrics)."
  value       = aws_lb_target_group.this.arn_suffix
}

output "listener_arn" {
  description = "ARN of the UDP 4789 listener."
  value       = aws_lb_listener.vxlan.arn
}

output "vxlan_port" {
  description = "UDP port the NLB listens on and forwards to."
  value       = var.vxlan_port
}

output "health_check_port" {
  description = "TCP port the NLB health-checks over HTTP; the collectors' security group must allow it."
  value       = var.health_check_port
}

output "deregistration_delay_seconds" {
  description = "The target group's deregistration delay (seconds a deregistered collector keeps receiving its flows): the collectors' deregistration_delay_seconds, from which their drain_ms is set, must equal it."
  value       = tonumber(aws_lb_target_group.this.deregistration_delay)
}
