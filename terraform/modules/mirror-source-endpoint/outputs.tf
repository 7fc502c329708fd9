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
  description = "Largest packet_length for this VPC's mirror sessions: 8,464 bytes of each mirrored frame, so that the VXLAN datagram (36 bytes of IPv4, UDP and VXLAN headers before them) fits the 8,500 bytes a GWLB endpoint carries."
  value       = 8464
}

output "enrollment_filter_id" {
  description = "Id of the filter tagged for mirrorlake-enroll (every packet), or null without enrollment_deployment."
  value       = one(aws_ec2_traffic_mirror_filter.enrollment[*].id)
}
