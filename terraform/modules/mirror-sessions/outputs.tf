output "traffic_mirror_filter_id" {
  description = "Id of the Traffic Mirror filter (tmf-...). Event-driven enrollment can reuse it for new sessions."
  value       = aws_ec2_traffic_mirror_filter.this.id
}

output "filter_rule_ids" {
  description = "Filter rule ids keyed \"<direction>-<rule_number>\"."
  value       = { for k, r in aws_ec2_traffic_mirror_filter_rule.this : k => r.id }
}

output "session_ids" {
  description = "Traffic Mirror session ids keyed by source ENI id."
  value       = { for k, s in aws_ec2_traffic_mirror_session.this : k => s.id }
}

output "session_arns" {
  description = "Traffic Mirror session ARNs keyed by source ENI id."
  value       = { for k, s in aws_ec2_traffic_mirror_session.this : k => s.arn }
}

output "session_number" {
  description = "Session number used by every session of this module."
  value       = var.session_number
}

output "virtual_network_id" {
  description = "VNI configured on the sessions (null = chosen by AWS per session)."
  value       = var.virtual_network_id
}

output "east_west_reject_cidrs" {
  description = "The blocks whose egress is not mirrored (east_west_once): each such packet is stored once, as its receiver's ingress. [] without east_west_once."
  value       = [for r in local.east_west_rules : r.destination_cidr_block]
}

output "packet_length" {
  description = "packet_length of the sessions (null = the whole packet): packet_length, or max_packet_length when packet_length is null. The enrollment of the same sources should use it too."
  value       = local.packet_length
}
