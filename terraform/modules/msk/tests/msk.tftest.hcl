# Offline plan-time tests with a mocked AWS provider (no credentials, no network).
mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { name = "ap-northeast-1" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "111122223333" }
  }
}

variables {
  name                      = "mltest"
  vpc_id                    = "vpc-0123456789abcdef0"
  subnet_ids                = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1", "subnet-0123456789abcdef2"]
  client_security_group_ids = ["sg-0123456789abcdef0"]
}

run "provisioned_tls_and_iam_only" {
  command = plan

  assert {
    condition = (
      aws_msk_cluster.this[0].encryption_info[0].encryption_in_transit[0].client_broker == "TLS" &&
      aws_msk_cluster.this[0].encryption_info[0].encryption_in_transit[0].in_cluster == true
    )
    error_message = "TLS in transit (client-broker and in-cluster) required"
  }

  assert {
    condition = (
      aws_msk_cluster.this[0].client_authentication[0].sasl[0].iam == true &&
      aws_msk_cluster.this[0].client_authentication[0].unauthenticated == false
    )
    error_message = "IAM auth only"
  }

  # mirrorlake's clients speak MSK IAM (SASL/OAUTHBEARER) themselves: no SCRAM or mTLS listener.
  assert {
    condition = (
      coalesce(aws_msk_cluster.this[0].client_authentication[0].sasl[0].scram, false) == false &&
      length(aws_msk_cluster.this[0].client_authentication[0].tls) == 0
    )
    error_message = "no SASL/SCRAM and no mTLS client authentication: IAM is the only listener"
  }

  assert {
    condition     = length(aws_msk_serverless_cluster.this) == 0 && length(aws_kms_key.this) == 1
    error_message = "provisioned by default, with a created CMK"
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.clients_sg[0].from_port == 9098
    error_message = "clients reach the brokers on 9098 (IAM)"
  }
}

# Follower fetching: consumers sending client.rack (the aggregators: their AZ ID) read from the
# replica in their own AZ.
run "rack_aware_replica_selector" {
  command = plan

  assert {
    condition     = strcontains(aws_msk_configuration.this[0].server_properties, "\nreplica.selector.class=org.apache.kafka.common.replica.RackAwareReplicaSelector\n")
    error_message = "the brokers must select the consumer's rack-local replica (replica.selector.class=RackAwareReplicaSelector)"
  }
}

run "rack_aware_fetching_off" {
  command = plan

  variables {
    rack_aware_fetching = false
  }

  assert {
    condition     = !strcontains(aws_msk_configuration.this[0].server_properties, "replica.selector.class") && strcontains(aws_msk_configuration.this[0].server_properties, "auto.create.topics.enable=false")
    error_message = "with rack_aware_fetching = false the brokers keep the default (leader) replica selection"
  }
}

run "message_size_settings_are_consistent" {
  command = plan

  variables {
    message_max_bytes = 4194304
  }

  assert {
    condition = (
      strcontains(aws_msk_configuration.this[0].server_properties, "message.max.bytes=4194304") &&
      strcontains(aws_msk_configuration.this[0].server_properties, "replica.fetch.max.bytes=4194304") &&
      strcontains(aws_msk_configuration.this[0].server_properties, "replica.fetch.response.max.bytes=10485760") &&
      strcontains(aws_msk_configuration.this[0].server_properties, "auto.create.topics.enable=false")
    )
    error_message = "message.max.bytes and replica.fetch.max.bytes must move together"
  }

  assert {
    condition     = output.topic_config.configs["max.message.bytes"] == "4194304" && output.topic_config.name == "mirrorlake.packets"
    error_message = "the topic's max.message.bytes must match the broker setting"
  }

  assert {
    condition     = output.topic_config.replication_factor == 3 && output.topic_config.configs["min.insync.replicas"] == "2"
    error_message = "replication factor 3 with min.insync.replicas 2 expected"
  }
}

run "serverless" {
  command = plan

  variables {
    serverless = true
  }

  assert {
    condition     = length(aws_msk_cluster.this) == 0 && length(aws_msk_serverless_cluster.this) == 1
    error_message = "serverless switch must create only the serverless cluster"
  }

  assert {
    condition     = aws_msk_serverless_cluster.this[0].client_authentication[0].sasl[0].iam[0].enabled == true
    error_message = "serverless must use IAM auth"
  }

  assert {
    condition     = length(aws_kms_key.this) == 0 && length(aws_cloudwatch_log_group.this) == 0
    error_message = "serverless needs neither a CMK nor a broker log group"
  }
}

run "rejects_brokers_not_multiple_of_azs" {
  command = plan

  variables {
    number_of_broker_nodes = 4
  }

  expect_failures = [aws_msk_cluster.this]
}

run "rejects_oversized_messages" {
  command = plan

  variables {
    message_max_bytes = 16777216
  }

  expect_failures = [var.message_max_bytes]
}

# Issue 23 (7): storage and partitions from the expected rate and retention; storage autoscaling;
# an alarm on the fullest broker's disk.
run "sized_from_rate_and_retention" {
  command = plan

  variables {
    expected_ingress_gbps = 1
    topic_retention_hours = 6
  }

  # 125 MB/s x 6 h x 3 replicas / 3 brokers / 0.7 = 3,857,142,857,143 B = 3593 GiB (rounded up).
  assert {
    condition     = aws_msk_cluster.this[0].broker_node_group_info[0].storage_info[0].ebs_storage_info[0].volume_size == 3593
    error_message = "broker storage must hold the rate for the retention, replicated, at 70% fill (got ${aws_msk_cluster.this[0].broker_node_group_info[0].storage_info[0].ebs_storage_info[0].volume_size})"
  }

  # 125 MB/s / 5 MB/s = 25 partitions, rounded up to a multiple of 3 brokers.
  assert {
    condition     = output.topic_partitions == 27 && output.topic_config.partitions == 27 && output.server_properties["num.partitions"] == "27"
    error_message = "partitions must follow the rate (got ${output.topic_partitions})"
  }

  assert {
    condition = (
      aws_appautoscaling_target.storage[0].scalable_dimension == "kafka:broker-storage:VolumeSize" &&
      aws_appautoscaling_target.storage[0].min_capacity == 3593 &&
      aws_appautoscaling_target.storage[0].max_capacity == 16384 &&
      aws_appautoscaling_policy.storage[0].target_tracking_scaling_policy_configuration[0].predefined_metric_specification[0].predefined_metric_type == "KafkaBrokerStorageUtilization" &&
      aws_appautoscaling_policy.storage[0].target_tracking_scaling_policy_configuration[0].target_value == 60 &&
      aws_appautoscaling_policy.storage[0].target_tracking_scaling_policy_configuration[0].disable_scale_in == true
    )
    error_message = "storage autoscaling from the initial size up to 16384 GiB at 60% utilization expected"
  }

  # One Metrics Insights query over every broker of the cluster (modules/msk/main.tf explains why).
  assert {
    condition = (
      aws_cloudwatch_metric_alarm.disk_used[0].threshold == 80 &&
      length(aws_cloudwatch_metric_alarm.disk_used[0].metric_query) == 1 &&
      one([for q in aws_cloudwatch_metric_alarm.disk_used[0].metric_query : q.expression if q.return_data == true]) == "SELECT MAX(KafkaDataLogsDiskUsed) FROM SCHEMA(\"AWS/Kafka\", \"Broker ID\", \"Cluster Name\") WHERE \"Cluster Name\" = 'mltest'" &&
      one([for q in aws_cloudwatch_metric_alarm.disk_used[0].metric_query : q.period if q.return_data == true]) == 300
    )
    error_message = "the disk alarm must watch the maximum KafkaDataLogsDiskUsed over every broker of the cluster (got ${jsonencode(aws_cloudwatch_metric_alarm.disk_used[0].metric_query)})"
  }
}

run "defaults_without_a_rate" {
  command = plan

  assert {
    condition     = aws_msk_cluster.this[0].broker_node_group_info[0].storage_info[0].ebs_storage_info[0].volume_size == 1000 && output.topic_partitions == 12
    error_message = "without a rate: 1000 GiB and 12 partitions, as before"
  }
}

run "rejects_a_rate_the_brokers_cannot_hold" {
  command = plan

  variables {
    expected_ingress_gbps = 20
    topic_retention_hours = 24
  }

  expect_failures = [aws_msk_cluster.this]
}

# Issue 23 (7): the brokers' default retention (log.retention.hours) and the topic's retention.ms
# are the topic's retention, not Kafka's 168 h default: the storage above is sized for it.
run "retention_from_topic_retention_hours" {
  command = plan

  variables {
    topic_retention_hours = 6
  }

  assert {
    condition     = strcontains(aws_msk_configuration.this[0].server_properties, "\nlog.retention.hours=6\n") && output.server_properties["log.retention.hours"] == "6"
    error_message = "log.retention.hours must be topic_retention_hours (got ${jsonencode(aws_msk_configuration.this[0].server_properties)})"
  }

  assert {
    condition     = output.topic_config.configs["retention.ms"] == "21600000"
    error_message = "the topic's retention.ms must be topic_retention_hours in milliseconds"
  }
}

# docs/sizing.md, "Worked example: 20 Gbps": 21 brokers over 3 AZs, Kafka retention 6 h.
# 2,500 MB/s x 6 h x 3 replicas / 21 brokers / 0.7 = 11,020 GB = 10,264 GiB per broker (rounded
# up); 2,500 / 5 MB/s = 500 partitions, rounded up to a multiple of 21 = 504. (The 1 Gbps worked
# example is pinned by examples/complete/tests, msk_sized_for_the_rate.)
run "sizing_doc_20_gbps_worked_example" {
  command = plan

  variables {
    expected_ingress_gbps  = 20
    topic_retention_hours  = 6
    number_of_broker_nodes = 21
  }

  assert {
    condition     = output.broker_volume_size_gb == 10264 && aws_msk_cluster.this[0].broker_node_group_info[0].storage_info[0].ebs_storage_info[0].volume_size == 10264
    error_message = "docs/sizing.md states 10,264 GiB per broker at 20 Gbps, 6 h, 21 brokers (got ${output.broker_volume_size_gb})"
  }

  assert {
    condition     = output.topic_partitions == 504 && output.server_properties["num.partitions"] == "504"
    error_message = "docs/sizing.md states 504 partitions at 20 Gbps over 21 brokers (got ${output.topic_partitions})"
  }
}

# A metric-math alarm may include at most 10 metrics (CloudWatch refuses more at apply time; the
# mocked provider does not): with one metric per broker the 20 Gbps cluster of docs/sizing.md
# (21 brokers) could not have its disk alarm. The Metrics Insights query is the same for any
# broker count.
run "disk_alarm_past_10_brokers" {
  command = plan

  variables {
    number_of_broker_nodes = 21
  }

  assert {
    condition = (
      length(aws_cloudwatch_metric_alarm.disk_used[0].metric_query) <= 10 &&
      length([for q in aws_cloudwatch_metric_alarm.disk_used[0].metric_query : q if length(q.metric) > 0]) == 0 &&
      length([for q in aws_cloudwatch_metric_alarm.disk_used[0].metric_query : q if q.return_data == true]) == 1
    )
    error_message = "the disk alarm of a 21-broker cluster must not list one metric per broker (CloudWatch allows 10 in an alarm); got ${length(aws_cloudwatch_metric_alarm.disk_used[0].metric_query)} metric queries"
  }

  assert {
    condition = alltrue([
      for q in aws_cloudwatch_metric_alarm.disk_used[0].metric_query : try(
        startswith(q.expression, "SELECT MAX(KafkaDataLogsDiskUsed) FROM SCHEMA(\"AWS/Kafka\", ") &&
        strcontains(q.expression, "\"Broker ID\"") &&
        strcontains(q.expression, "WHERE \"Cluster Name\" = 'mltest'") &&
        !strcontains(upper(q.expression), "GROUP BY") &&
        q.period % 60 == 0 && q.period * aws_cloudwatch_metric_alarm.disk_used[0].evaluation_periods <= 10800,
        false
      )
    ])
    error_message = "the disk alarm must be one Metrics Insights query, MAX of KafkaDataLogsDiskUsed per broker of this cluster, without GROUP BY (one time series), its period a multiple of 60 s within the 3 hours an alarm evaluates"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.disk_used[0].threshold == 80 && aws_cloudwatch_metric_alarm.disk_used[0].comparison_operator == "GreaterThanThreshold"
    error_message = "the disk alarm's threshold must stay disk_used_alarm_percent (80 by default)"
  }
}
