# MSK cluster (provisioned or serverless) with TLS in transit and IAM auth only, plus the broker
# configuration that keeps message size limits consistent across produce, replication and fetch.
#
# The topic itself is not a Terraform resource (the AWS provider has none): create it once with
# the command in output.create_topic_command; its settings are documented in output.topic_config.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id

  # Serverless clusters encrypt with an AWS owned key and have no broker log group: no CMK needed.
  create_kms_key = var.kms_key_arn == null && !var.serverless
  kms_key_arn    = local.create_kms_key ? aws_kms_key.this[0].arn : var.kms_key_arn

  replication_factor  = var.serverless ? 3 : min(3, var.number_of_broker_nodes)
  min_insync_replicas = max(1, local.replication_factor - 1)

  # Sizing from the expected rate (docs/sizing.md): MB/s into Kafka, replicated, kept for the
  # topic's retention, spread over the brokers, filled to 70% at the start.
  ingress_mbps = var.expected_ingress_gbps == null ? null : var.expected_ingress_gbps * 1000 / 8
  brokers      = var.serverless ? 1 : var.number_of_broker_nodes
  derived_volume_size_gb = local.ingress_mbps == null ? 1000 : ceil(
    local.ingress_mbps * 1000000 * var.topic_retention_hours * 3600 * local.replication_factor / local.brokers / 0.7 / pow(2, 30)
  )
  broker_volume_size_gb = var.broker_volume_size_gb != null ? var.broker_volume_size_gb : local.derived_volume_size_gb
  topic_partitions = var.topic_partitions != null ? var.topic_partitions : (
    local.ingress_mbps == null ? 12 : ceil(max(12, ceil(local.ingress_mbps / var.partition_throughput_mbps)) / local.brokers) * local.brokers
  )

  # Serverless brokers accept up to 8 MiB; the topic setting is what limits the producers there.
  topic_max_message_bytes = var.message_max_bytes

  server_properties = merge(
    {
      "auto.create.topics.enable"        = "false"
      "default.replication.factor"       = tostring(local.replication_factor)
      "min.insync.replicas"              = tostring(local.min_insync_replicas)
      "num.partitions"                   = tostring(local.topic_partitions)
      "unclean.leader.election.enable"   = "false"
      "log.retention.hours"              = tostring(var.topic_retention_hours)
      "message.max.bytes"                = tostring(var.message_max_bytes)
      "replica.fetch.max.bytes"          = tostring(var.message_max_bytes)
      "replica.fetch.response.max.bytes" = tostring(max(10485760, var.message_max_bytes))
    },
    # Follower fetching (KIP-392): a consumer that sends client.rack (the aggregators send their AZ
    # ID, which is MSK's broker.rack) reads from the replica in its own AZ instead of the leader.
    var.rack_aware_fetching ? {
      "replica.selector.class" = "org.apache.kafka.common.replica.RackAwareReplicaSelector"
    } : {},
  )

  topic_config = {
    "max.message.bytes"   = tostring(local.topic_max_message_bytes)
    "min.insync.replicas" = tostring(local.min_insync_replicas)
    "retention.ms"        = tostring(var.topic_retention_hours * 3600 * 1000)
    "cleanup.policy"      = "delete"
    # Payloads are Arrow IPC streams, compressed once by the producer (IPC body or Kafka codec).
    "compression.type" = "producer"
  }

  cluster_arn                 = var.serverless ? aws_msk_serverless_cluster.this[0].arn : aws_msk_cluster.this[0].arn
  bootstrap_brokers_sasl_iam  = var.serverless ? aws_msk_serverless_cluster.this[0].bootstrap_brokers_sasl_iam : aws_msk_cluster.this[0].bootstrap_brokers_sasl_iam
  topic_arn                   = "${replace(local.cluster_arn, ":cluster/", ":topic/")}/${var.topic_name}"
  client_properties_file_text = <<-EOT
    security.protocol=SASL_SSL
    sasl.mechanism=AWS_MSK_IAM
    sasl.jaas.config=software.amazon.msk.auth.iam.IAMLoginModule required;
    sasl.client.callback.handler.class=software.amazon.msk.auth.iam.IAMClientCallbackHandler
  EOT
}

################################################################################
# KMS key (optional)
################################################################################

resource "aws_kms_key" "this" {
  count = local.create_kms_key ? 1 : 0

  description             = "${var.name}: MSK storage and broker logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministers"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsBrokerLogs"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = { "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/msk/${var.name}" }
        }
      },
    ]
  })

  tags = var.tags
}

resource "aws_kms_alias" "this" {
  count = local.create_kms_key ? 1 : 0

  name          = "alias/${var.name}-msk"
  target_key_id = aws_kms_key.this[0].key_id
}

################################################################################
# Security group
################################################################################

resource "aws_security_group" "this" {
  name_prefix = "${var.name}-msk-"
  description = "MSK brokers: IAM-authenticated TLS clients only"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-msk" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "clients_sg" {
  # count, not for_each: the group ids are often unknown until apply.
  count = length(var.client_security_group_ids)

  security_group_id            = aws_security_group.this.id
  description                  = "Kafka clients, IAM auth over TLS"
  ip_protocol                  = "tcp"
  from_port                    = 9098
  to_port                      = 9098
  referenced_security_group_id = var.client_security_group_ids[count.index]

  tags = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "clients_cidr" {
  for_each = toset(var.client_cidr_blocks)

  security_group_id = aws_security_group.this.id
  description       = "Kafka clients, IAM auth over TLS"
  ip_protocol       = "tcp"
  from_port         = 9098
  to_port           = 9098
  cidr_ipv4         = each.value

  tags = var.tags
}

################################################################################
# Provisioned cluster
################################################################################

resource "aws_cloudwatch_log_group" "this" {
  count = var.serverless ? 0 : 1

  name              = "/aws/msk/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = local.kms_key_arn

  tags = var.tags
}

resource "aws_msk_configuration" "this" {
  count = var.serverless ? 0 : 1

  name              = "${var.name}-${replace(var.kafka_version, ".", "-")}"
  kafka_versions    = [var.kafka_version]
  description       = "mirrorlake: consistent message size limits, no auto-created topics"
  server_properties = join("\n", [for k, v in local.server_properties : "${k}=${v}"])

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_msk_cluster" "this" {
  count = var.serverless ? 0 : 1

  cluster_name           = var.name
  kafka_version          = var.kafka_version
  number_of_broker_nodes = var.number_of_broker_nodes
  enhanced_monitoring    = var.enhanced_monitoring

  broker_node_group_info {
    instance_type   = var.broker_instance_type
    client_subnets  = var.subnet_ids
    security_groups = [aws_security_group.this.id]

    storage_info {
      ebs_storage_info {
        volume_size = local.broker_volume_size_gb
      }
    }

    connectivity_info {
      public_access {
        type = "DISABLED"
      }
    }
  }

  client_authentication {
    unauthenticated = false

    sasl {
      iam = true
    }
  }

  encryption_info {
    encryption_at_rest_kms_key_arn = local.kms_key_arn

    encryption_in_transit {
      client_broker = "TLS"
      in_cluster    = true
    }
  }

  configuration_info {
    arn      = aws_msk_configuration.this[0].arn
    revision = aws_msk_configuration.this[0].latest_revision
  }

  logging_info {
    broker_logs {
      cloudwatch_logs {
        enabled   = true
        log_group = aws_cloudwatch_log_group.this[0].name
      }
    }
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.number_of_broker_nodes % length(var.subnet_ids) == 0
      error_message = "number_of_broker_nodes must be a multiple of the number of subnets (one broker group per Availability Zone)."
    }

    precondition {
      condition     = length(var.subnet_ids) <= 3
      error_message = "A provisioned MSK cluster spans 2 or 3 subnets."
    }

    precondition {
      condition     = local.broker_volume_size_gb <= 16384
      error_message = "Brokers need ${local.broker_volume_size_gb} GiB each for ${coalesce(var.expected_ingress_gbps, 0)} Gbps kept ${var.topic_retention_hours} h (x${local.replication_factor} replicas over ${local.brokers} brokers, 70% full), above MSK's 16384 GiB per broker: add brokers or shorten topic_retention_hours."
    }

    # Storage autoscaling grows the volumes (MSK never shrinks them): Terraform keeps its hands
    # off the size after creation; raise broker_volume_size_gb to raise the autoscaling floor.
    ignore_changes = [broker_node_group_info[0].storage_info[0].ebs_storage_info[0].volume_size]
  }
}

################################################################################
# Storage: autoscaling and the disk alarm (provisioned)
################################################################################

resource "aws_appautoscaling_target" "storage" {
  count = !var.serverless && var.storage_autoscaling_target_percent != null ? 1 : 0

  service_namespace  = "kafka"
  scalable_dimension = "kafka:broker-storage:VolumeSize"
  resource_id        = aws_msk_cluster.this[0].arn
  min_capacity       = local.broker_volume_size_gb
  max_capacity       = var.max_broker_volume_size_gb

  lifecycle {
    precondition {
      condition     = var.max_broker_volume_size_gb >= local.broker_volume_size_gb
      error_message = "max_broker_volume_size_gb (${var.max_broker_volume_size_gb}) must be at least the initial size (${local.broker_volume_size_gb})."
    }
  }
}

resource "aws_appautoscaling_policy" "storage" {
  count = length(aws_appautoscaling_target.storage)

  name               = "${var.name}-broker-storage"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.storage[0].service_namespace
  scalable_dimension = aws_appautoscaling_target.storage[0].scalable_dimension
  resource_id        = aws_appautoscaling_target.storage[0].resource_id

  target_tracking_scaling_policy_configuration {
    predefined_metric_specification {
      predefined_metric_type = "KafkaBrokerStorageUtilization"
    }
    target_value     = var.storage_autoscaling_target_percent
    disable_scale_in = true
  }
}

# KafkaDataLogsDiskUsed is per broker, DEFAULT monitoring level, dimensions "Cluster Name" and
# "Broker ID" (MSK also publishes a "Cluster Name"-only series, which SCHEMA below leaves out):
# https://docs.aws.amazon.com/msk/latest/developerguide/metrics-details.html
# The alarm watches the fullest broker. Autoscaling grows volumes at most every 6 hours; a rate
# jump can fill a disk sooner.
#
# One Metrics Insights query, not metric math over one metric per broker: a math expression used
# for an alarm "can include as many as 10 metrics", so a cluster of more than 10 brokers (the
# 20 Gbps example in docs/sizing.md has 21) would be refused at apply time
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-data-queries.html).
# MAX(...) FROM SCHEMA(...) WHERE ... without GROUP BY returns a single aggregated time series, the
# form AWS gives for an aggregate alarm
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Create_Metrics_Insights_Alarm.html);
# SCHEMA matches only metrics with exactly those dimensions; names with a space are double-quoted,
# values single-quoted (var.name is letters, digits and hyphens: nothing to escape)
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-metrics-insights-querylanguage.html).
# It covers any broker count, and brokers added later, without a Terraform change. A Metrics
# Insights alarm evaluates only the latest 3 hours of data
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-limits.html): period 300 s
# (a multiple of 60: the query has no sub-minute data) x 3 evaluation periods = 15 minutes.
resource "aws_cloudwatch_metric_alarm" "disk_used" {
  count = var.serverless ? 0 : 1

  alarm_name          = "${var.name}-msk-disk-used"
  alarm_description   = "An MSK broker's data log disk is over ${var.disk_used_alarm_percent}% (KafkaDataLogsDiskUsed, fullest broker): a full broker refuses the collectors' messages and they drop packets. Add storage or brokers, or shorten the topic's retention."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.disk_used_alarm_percent
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  treat_missing_data  = "missing"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions

  metric_query {
    id          = "fullest"
    label       = "KafkaDataLogsDiskUsed of the fullest broker"
    expression  = "SELECT MAX(KafkaDataLogsDiskUsed) FROM SCHEMA(\"AWS/Kafka\", \"Broker ID\", \"Cluster Name\") WHERE \"Cluster Name\" = '${var.name}'"
    period      = 300
    return_data = true
  }

  tags = var.tags
}

################################################################################
# Serverless cluster
################################################################################

resource "aws_msk_serverless_cluster" "this" {
  count = var.serverless ? 1 : 0

  cluster_name = var.name

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = [aws_security_group.this.id]
  }

  client_authentication {
    sasl {
      iam {
        enabled = true
      }
    }
  }

  tags = var.tags
}
