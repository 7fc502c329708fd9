output "endpoint_service_name" {
  description = "The collectors' VPC endpoint service: what a further source VPC connects its GWLB endpoint to (mirror-source-endpoint), once its account is allowed."
  value       = module.mirror_target.endpoint_service_name
}

output "endpoint_service_id" {
  description = "Id of the endpoint service (accept or reject endpoint connections on it)."
  value       = module.mirror_target.endpoint_service_id
}

output "allowed_principals" {
  description = "The accounts allowed to connect endpoints: the central and the member account."
  value       = module.mirror_target.allowed_principals
}

output "central_traffic_mirror_target_id" {
  description = "Mirror target of the central account's source VPC (its GWLB endpoint): for sessions or an enrollment there."
  value       = module.central_endpoint.traffic_mirror_target_id
}

output "member_traffic_mirror_target_id" {
  description = "Mirror target of the member account's source VPC (a resource of the member account)."
  value       = module.member_endpoint.traffic_mirror_target_id
}

output "member_vpc_endpoint_id" {
  description = "The member VPC's GWLB endpoint (the connection to reject on the service to cut that VPC off)."
  value       = module.member_endpoint.vpc_endpoint_id
}

output "central_session_ids" {
  description = "Sessions of the central account's source VPC, keyed by ENI."
  value       = module.central_sessions.session_ids
}

output "member_session_ids" {
  description = "Sessions of the member account's source VPC, keyed by ENI."
  value       = module.member_sessions.session_ids
}

output "target_group_arn" {
  description = "ARN of the collectors' GENEVE target group (check target health here)."
  value       = module.mirror_target.target_group_arn
}

output "collector_asg_name" {
  description = "Collectors' Auto Scaling group."
  value       = module.collectors.autoscaling_group_name
}

output "lake_url" {
  description = "The lake the collectors write (s3://bucket/prefix)."
  value       = "s3://${module.lake.bucket_name}/${module.lake.prefix}"
}

output "athena_workgroup" {
  description = "Athena workgroup (results location, encryption and scan cutoff are enforced)."
  value       = module.lake.workgroup_name
}
