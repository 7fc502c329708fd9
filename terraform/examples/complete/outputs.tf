output "traffic_mirror_target_id" {
  description = "Traffic Mirror target (tmt-...) of this VPC's sources (the NLB's, or with gwlb this VPC's endpoint's) for sessions created outside this configuration (for example by event-driven enrollment)."
  value       = local.traffic_mirror_target_id
}

output "endpoint_service_name" {
  description = "mirror_target_kind = gwlb: the VPC endpoint service other VPCs connect their GWLB endpoints to (mirror-source-endpoint's service_name). null with nlb."
  value       = module.mirror_target.endpoint_service_name
}

output "traffic_mirror_filter_id" {
  description = "Traffic Mirror filter (tmf-...) shared by the sessions."
  value       = module.mirror_sessions.traffic_mirror_filter_id
}

output "mirror_session_ids" {
  description = "Sessions created, keyed by source ENI."
  value       = module.mirror_sessions.session_ids
}

output "nlb_arn" {
  description = "ARN of the mirror load balancer (the NLB, or the GWLB with mirror_target_kind = gwlb)."
  value       = module.mirror_target.lb_arn
}

output "target_group_arn" {
  description = "ARN of the collectors' target group, UDP or GENEVE (check target health here)."
  value       = module.mirror_target.target_group_arn
}

output "collector_asg_name" {
  description = "Collectors' Auto Scaling group."
  value       = module.collectors.autoscaling_group_name
}

output "collector_security_group_id" {
  description = "Collectors' security group (its ENIs are excluded from mirroring)."
  value       = module.collectors.security_group_id
}

output "aggregator_asg_name" {
  description = "Aggregators' Auto Scaling group."
  value       = module.aggregators.autoscaling_group_name
}

output "msk_bootstrap_brokers" {
  description = "MSK bootstrap brokers (IAM auth, port 9098)."
  value       = module.msk.bootstrap_brokers_sasl_iam
}

output "create_topic_command" {
  description = "Run once from a host in the VPC to create the packets topic with its documented settings."
  value       = module.msk.create_topic_command
}

output "msk_client_properties" {
  description = "client.properties for the Kafka CLI with IAM auth."
  value       = module.msk.client_properties
}

output "lake_bucket_name" {
  description = "Bucket holding <prefix>/packets/dt=YYYY-MM-DD/hour=HH/*.parquet."
  value       = module.lake.bucket_name
}

output "lake_table_locations" {
  description = "S3 location of each lake table."
  value       = module.lake.table_locations
}

output "athena_database" {
  description = "Glue/Athena database."
  value       = module.lake.database_name
}

output "athena_workgroup" {
  description = "Athena workgroup (results location, encryption and scan cutoff are enforced)."
  value       = module.lake.workgroup_name
}

output "alarm_topic_arn" {
  description = "SNS topic of the alarms."
  value       = module.alarms.sns_topic_arn
}

output "enrollment_function_name" {
  description = "The enrollment Lambda (null when enrollment_lambda_zip_path is not set)."
  value       = one(module.enrollment[*].function_name)
}

output "msk_topic_config" {
  description = "The packets topic's settings: partitions (sized from expected_ingress_gbps), replication factor and per-topic configs; the first collector creates it with the partitions and replication."
  value       = module.msk.topic_config
}
