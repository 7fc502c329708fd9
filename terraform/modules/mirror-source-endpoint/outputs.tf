output "traffic_mirror_target_id" {
  description = "Id of the Traffic Mirror target (tmt-...) of this source VPC: give it to mirror-sessions (traffic_mirror_target_id) or to the enrollment of this account."
  value       = aws_ec2_traffic_mirror_target.this.id
}

output "traffic_mirror_target_arn" {
  description = "ARN of the Traffic Mirror target."
  value       = aws_ec2_traffic_mirror_target.this.arn
}

output "vpc_endpoint_id" {
  description = "Id of the GWLB endpoint (vpce-...): the one to accept on the endpoint service when it requires acceptance."
  value       = aws_vpc_endpoint.this.id
}

output "max_packet_length" {
  description = "Largest packet_length for this VPC's mirror sessions: 8,446 bytes of each mirrored frame, AWS's figure for a GWLB endpoint target: 8,500 bytes less 54 of mirror encapsulation."
  value       = 8446
}

output "enrollment_filter_id" {
  description = "Id of the filter tagged for mirrorlake-enroll (every packet), or null without enrollment_deployment."
  value       = one(aws_ec2_traffic_mirror_filter.enrollment[*].id)
}
