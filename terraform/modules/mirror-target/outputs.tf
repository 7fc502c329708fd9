output "kind" {
  description = "The load balancer kind: nlb (mirror sessions send to traffic_mirror_target_id) or gwlb (source VPCs connect endpoints to endpoint_service_name). Pass it to the collectors' and the alarms' target_kind / lb_kind."
  value       = var.kind
}

output "traffic_mirror_target_id" {
  description = "kind = nlb: id of the Traffic Mirror target (tmt-...) that mirror sessions send to. null with gwlb (each source VPC has its own target: mirror-source-endpoint)."
  value       = one(aws_ec2_traffic_mirror_target.this[*].id)
}

output "traffic_mirror_target_arn" {
  description = "kind = nlb: ARN of the Traffic Mirror target. null with gwlb."
  value       = one(aws_ec2_traffic_mirror_target.this[*].arn)
}

output "endpoint_service_name" {
  description = "kind = gwlb: service name of the VPC endpoint service (com.amazonaws.vpce.<region>.vpce-svc-...), the mirror-source-endpoint module's service_name. null with nlb."
  value       = one(aws_vpc_endpoint_service.this[*].service_name)
}

output "endpoint_service_id" {
  description = "kind = gwlb: id of the VPC endpoint service (vpce-svc-...): accept pending connections on it when acceptance_required. null with nlb."
  value       = one(aws_vpc_endpoint_service.this[*].id)
}

output "allowed_principals" {
  description = "kind = gwlb: the principals allowed to connect endpoints to the service. [] with nlb."
  value       = sort(keys(aws_vpc_endpoint_service_allowed_principal.this))
}

output "lb_arn" {
  description = "ARN of the load balancer (the internal NLB, or the GWLB)."
  value       = aws_lb.this.arn
}

output "lb_arn_suffix" {
  description = "ARN suffix of the load balancer (the LoadBalancer dimension of AWS/NetworkELB, or AWS/GatewayELB, metrics)."
  value       = aws_lb.this.arn_suffix
}

output "lb_dns_name" {
  description = "DNS name of the load balancer (useful only for tests: mirror sessions address the target, not the name)."
  value       = aws_lb.this.dns_name
}

output "subnet_ids" {
  description = "Subnets of the load balancer. With gwlb the GENEVE packets and the health checks come from the GWLB's addresses there: the collectors' gwlb_subnet_ids."
  value       = var.subnet_ids
}

output "target_group_arn" {
  description = "ARN of the target group (UDP for nlb, GENEVE for gwlb); attach the collectors' Auto Scaling group to it."
  value       = aws_lb_target_group.this.arn
}

output "target_group_arn_suffix" {
  description = "ARN suffix of the target group (the TargetGroup dimension of AWS/NetworkELB, or AWS/GatewayELB, metrics)."
  value       = aws_lb_target_group.this.arn_suffix
}

output "listener_arn" {
  description = "ARN of the listener (UDP 4789 for nlb; the GWLB's only listener for gwlb)."
  value       = aws_lb_listener.vxlan.arn
}

output "vxlan_port" {
  description = "kind = nlb: UDP port the NLB listens on and forwards to. null with gwlb."
  value       = local.nlb ? var.vxlan_port : null
}

output "geneve_port" {
  description = "kind = gwlb: UDP port the GWLB sends GENEVE to on the collectors (6081, their geneve_listen). null with nlb."
  value       = local.gwlb ? local.geneve_port : null
}

output "health_check_port" {
  description = "TCP port the load balancer health-checks over HTTP; the collectors' security group must allow it."
  value       = var.health_check_port
}

output "deregistration_delay_seconds" {
  description = "The target group's deregistration delay (seconds a deregistered collector keeps receiving its flows): the collectors' deregistration_delay_seconds, from which their drain_ms is set, must equal it."
  value       = tonumber(aws_lb_target_group.this.deregistration_delay)
}
