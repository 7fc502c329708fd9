output "cluster_arn" {
  description = "ARN of the MSK cluster (provisioned or serverless)."
  value       = local.cluster_arn
}

output "cluster_name" {
  description = "Name of the MSK cluster (the \"Cluster Name\" dimension of AWS/Kafka metrics)."
  value       = var.name
}

output "bootstrap_brokers_sasl_iam" {
  description = "Bootstrap brokers for IAM auth over TLS (port 9098)."
  value       = local.bootstrap_brokers_sasl_iam
}

output "security_group_id" {
  description = "Security group of the brokers."
  value       = aws_security_group.this.id
}

output "kms_key_arn" {
  description = "KMS key used for encryption at rest and the broker log group (null for serverless without kms_key_arn)."
  value       = local.kms_key_arn
}

output "configuration_arn" {
  description = "ARN of the broker configuration (null for serverless)."
  value       = var.serverless ? null : aws_msk_configuration.this[0].arn
}

output "server_properties" {
  description = "Broker settings applied through the MSK configuration (provisioned clusters)."
  value       = var.serverless ? {} : local.server_properties
}

output "message_max_bytes" {
  description = "Broker/topic maximum message size: producers stay below it, consumers fetch at least it per partition."
  value       = var.message_max_bytes
}

output "topic_name" {
  description = "Name of the packets topic."
  value       = var.topic_name
}

output "topic_arn" {
  description = "ARN of the packets topic (for IAM policies)."
  value       = local.topic_arn
}

output "topic_config" {
  description = "Settings of the packets topic (partitions, replication factor and per-topic configs)."
  value = {
    name               = var.topic_name
    partitions         = local.topic_partitions
    replication_factor = local.replication_factor
    configs            = local.topic_config
  }
}

output "client_properties" {
  description = "Java client properties for IAM auth (aws-msk-iam-auth jar on the classpath), for kafka-topics.sh and friends."
  value       = local.client_properties_file_text
}

output "create_topic_command" {
  description = "Command that creates the packets topic with its documented settings (run from a host inside the VPC with the IAM auth jar and client.properties)."
  value = join(" ", concat(
    [
      "kafka-topics.sh --create --if-not-exists",
      "--bootstrap-server \"${local.bootstrap_brokers_sasl_iam}\"",
      "--command-config client.properties",
      "--topic ${var.topic_name}",
      "--partitions ${local.topic_partitions}",
      "--replication-factor ${local.replication_factor}",
    ],
    [for k, v in local.topic_config : "--config ${k}=${v}"],
  ))
}

output "broker_volume_size_gb" {
  description = "Initial EBS storage per broker (GiB), given or derived from expected_ingress_gbps (null for serverless)."
  value       = var.serverless ? null : local.broker_volume_size_gb
}

output "topic_partitions" {
  description = "Partitions of the packets topic, given or derived from expected_ingress_gbps."
  value       = local.topic_partitions
}

output "replication_factor" {
  description = "Replication factor of the packets topic."
  value       = local.replication_factor
}

output "disk_used_alarm_arn" {
  description = "ARN of the alarm on the fullest broker's KafkaDataLogsDiskUsed (null for serverless)."
  value       = var.serverless ? null : aws_cloudwatch_metric_alarm.disk_used[0].arn
}
