output "traffic_mirror_target_id" {
  description = "Traffic Mirror target (tmt-...) for sessions created outside this configuration."
  value       = module.mirror_target.traffic_mirror_target_id
}

output "traffic_mirror_filter_id" {
  description = "Traffic Mirror filter (tmf-...) shared by the sessions."
  value       = module.mirror_sessions.traffic_mirror_filter_id
}

output "mirror_session_ids" {
  description = "Sessions created, keyed by source ENI."
  value       = module.mirror_sessions.session_ids
}

output "target_group_arn" {
  description = "ARN of the collectors' UDP target group (check target health here)."
  value       = module.mirror_target.target_group_arn
}

output "collector_asg_name" {
  description = "Collectors' Auto Scaling group."
  value       = module.collectors.autoscaling_group_name
}

output "collector_role_name" {
  description = "Collectors' instance role (it may write the lake prefix, nothing else of the lake)."
  value       = module.collectors.iam_role_name
}

output "lake_url" {
  description = "The lake the collectors write (s3://bucket/prefix): MIRRORLAKE_LAKE for mirrorlake-aggregator compact, query and export."
  value       = "s3://${module.lake.bucket_name}/${module.lake.prefix}"
}

output "lake_bucket_name" {
  description = "Bucket holding <prefix>/packets/dt=YYYY-MM-DD/hour=HH/*.parquet."
  value       = module.lake.bucket_name
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
