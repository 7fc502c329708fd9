# Alarms for the failure modes that lose mirrored packets silently, and an SNS topic for them.
#
# Mirror-skip metrics (AWS/EC2 NetworkPacketsSkipMirrorIn/Out) exist only per InstanceId, on the
# mirror *sources*. A static alarm per instance drifts as the fleet changes, and CloudWatch alarms
# cannot use SEARCH() expressions. So the default is one alarm per direction on a CloudWatch
# Metrics Insights query that sums the metric over every instance of the account and region:
# instances that are not mirrored report nothing or zero, so the sum is exactly the mirror loss,
# and new sources are covered without a Terraform change. (Metrics Insights alarms look at the
# last 3 hours and at most 10,000 metrics per query, ample for a per-period sum.) An explicit
# list of instance ids adds exact per-instance alarms for critical sources.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id

  create_kms_key = var.kms_key_arn == null
  kms_key_arn    = local.create_kms_key ? aws_kms_key.this[0].arn : var.kms_key_arn
  actions        = [aws_sns_topic.this.arn]

  directions = ["In", "Out"]

  # The mirror target's load balancer: an NLB (AWS/NetworkELB) or a GWLB (AWS/GatewayELB, issue 24).
  # Both publish HealthyHostCount and UnHealthyHostCount per LoadBalancer and TargetGroup; an alarm
  # in the wrong namespace never sees data (and the healthy-hosts one, breaching on missing data,
  # would fire forever).
  gwlb         = var.target_kind == "gwlb"
  lb_namespace = local.gwlb ? "AWS/GatewayELB" : "AWS/NetworkELB"
  lb_label     = local.gwlb ? "gwlb" : "nlb"
  lb_name      = local.gwlb ? "Gateway Load Balancer" : "NLB"

  drop_alarms = {
    packets_dropped = {
      metric_name = var.dropped_metric_name
      description = "Collectors dropped more than ${var.packets_dropped_threshold} packets per minute (${var.collector_metric_namespace}/${var.dropped_metric_name}): decode failures, sources or VNIs not allowed, back-pressure, sink or Kafka failures, a full disk spool (spool_full: MSK away longer than the spool holds). The per-reason series (dimension reason) say which."
    }
    kernel_drops = {
      metric_name = var.kernel_drops_metric_name
      description = "The collectors' kernel dropped more than ${var.packets_dropped_threshold} mirrored datagrams per minute (${var.collector_metric_namespace}/${var.kernel_drops_metric_name}: socket receive buffer full before the collector read them). Scale out, use a larger or network-optimized instance type, or raise socket_receive_buffer_bytes."
    }
  }

  per_instance_skip = {
    for pair in setproduct(var.mirror_source_instance_ids, local.directions) :
    "${pair[0]}-${pair[1]}" => { instance_id = pair[0], direction = pair[1] }
  }
}

################################################################################
# SNS topic (encrypted with a key CloudWatch may use)
################################################################################

resource "aws_kms_key" "this" {
  count = local.create_kms_key ? 1 : 0

  description             = "${var.name}: alarm notifications"
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
        Sid       = "CloudWatchAlarmsPublish"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
      },
    ]
  })

  tags = var.tags
}

resource "aws_kms_alias" "this" {
  count = local.create_kms_key ? 1 : 0

  name          = "alias/${var.name}-alarms"
  target_key_id = aws_kms_key.this[0].key_id
}

resource "aws_sns_topic" "this" {
  name              = "${var.name}-alarms"
  kms_master_key_id = local.kms_key_arn

  tags = var.tags
}

resource "aws_sns_topic_policy" "this" {
  arn = aws_sns_topic.this.arn

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "CloudWatchAlarmsOfThisAccount"
      Effect    = "Allow"
      Principal = { Service = "cloudwatch.amazonaws.com" }
      Action    = "sns:Publish"
      Resource  = aws_sns_topic.this.arn
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
        ArnLike      = { "aws:SourceArn" = "arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${var.name}-*" }
      }
    }]
  })
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.email_endpoints)

  topic_arn = aws_sns_topic.this.arn
  protocol  = "email"
  endpoint  = each.value
}

################################################################################
# NLB or GWLB: the mirror target must have healthy collectors
################################################################################

resource "aws_cloudwatch_metric_alarm" "unhealthy_hosts" {
  alarm_name          = "${var.name}-${local.lb_label}-unhealthy-collectors"
  alarm_description   = "At least one collector fails its HTTP health check (readiness, /healthz) behind the mirror ${local.lb_name}: it is down, draining, or dropping what it receives (its spool full, or no spool and Kafka or S3 behind). Check the instance's mirrorlake-collector service, /healthz, /livez and the drop counters per reason."
  namespace           = local.lb_namespace
  metric_name         = "UnHealthyHostCount"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"

  dimensions = {
    LoadBalancer = var.nlb_arn_suffix
    TargetGroup  = var.target_group_arn_suffix
  }

  alarm_actions = local.actions
  ok_actions    = local.actions

  tags = var.tags

  lifecycle {
    # An NLB's ARN suffix starts net/, a GWLB's gwy/: the other kind's namespace has no such series.
    precondition {
      condition     = startswith(var.nlb_arn_suffix, local.gwlb ? "gwy/" : "net/")
      error_message = "nlb_arn_suffix (${var.nlb_arn_suffix}) is not a ${local.lb_name}'s: set target_kind to the mirror-target module's kind (\"gwlb\" for gwy/..., \"nlb\" for net/...)."
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "healthy_hosts" {
  alarm_name          = "${var.name}-${local.lb_label}-too-few-healthy-collectors"
  alarm_description   = "Fewer healthy collectors than ${var.min_healthy_hosts}: with none, the ${local.lb_name} drops all mirrored traffic without any error at the sources."
  namespace           = local.lb_namespace
  metric_name         = "HealthyHostCount"
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  threshold           = var.min_healthy_hosts
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"

  dimensions = {
    LoadBalancer = var.nlb_arn_suffix
    TargetGroup  = var.target_group_arn_suffix
  }

  alarm_actions = local.actions
  ok_actions    = local.actions

  tags = var.tags
}

################################################################################
# Mirror skips at the sources (AWS dropped mirrored copies to protect production traffic)
################################################################################

resource "aws_cloudwatch_metric_alarm" "mirror_skip_fleet" {
  for_each = var.enable_fleet_mirror_skip_alarm ? toset(local.directions) : toset([])

  alarm_name          = "${var.name}-mirror-skip-${lower(each.value)}-fleet"
  alarm_description   = "Sources skipped mirrored ${lower(each.value)}bound packets (NetworkPacketsSkipMirror${each.value}, summed over all instances): a source exceeds its bandwidth/PPS allowance and AWS sheds mirror copies first. Find it with the per-instance metric."
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  threshold           = var.mirror_skip_packets_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"

  metric_query {
    id          = "skipped"
    label       = "NetworkPacketsSkipMirror${each.value} (all instances)"
    expression  = "SELECT SUM(NetworkPacketsSkipMirror${each.value}) FROM SCHEMA(\"AWS/EC2\", InstanceId)"
    period      = var.mirror_skip_period_seconds
    return_data = true
  }

  alarm_actions = local.actions
  ok_actions    = local.actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "mirror_skip_instance" {
  for_each = local.per_instance_skip

  alarm_name          = "${var.name}-mirror-skip-${lower(each.value.direction)}-${each.value.instance_id}"
  alarm_description   = "${each.value.instance_id} skipped mirrored ${lower(each.value.direction)}bound packets (over its bandwidth/PPS allowance)."
  namespace           = "AWS/EC2"
  metric_name         = "NetworkPacketsSkipMirror${each.value.direction}"
  statistic           = "Sum"
  period              = var.mirror_skip_period_seconds
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  threshold           = var.mirror_skip_packets_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"

  dimensions = {
    InstanceId = each.value.instance_id
  }

  alarm_actions = local.actions
  ok_actions    = local.actions

  tags = var.tags
}

################################################################################
# Collector drops (our own counters: the loss AWS does not report)
################################################################################

# The collectors module publishes both counters as per-minute deltas (CloudWatch agent scraping
# /metrics, see modules/collectors/cloudwatch-metrics.json): once per Auto Scaling group
# (dimension AutoScalingGroupName) and packets_dropped also per reason. The fleet-wide query reads
# only the AutoScalingGroupName series, so the per-reason series are not counted twice.
resource "aws_cloudwatch_metric_alarm" "collector_drops" {
  for_each = local.drop_alarms

  alarm_name          = "${var.name}-collector-${replace(each.key, "_", "-")}"
  alarm_description   = each.value.description
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  threshold           = var.packets_dropped_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"

  # Empty dimensions: sum the fleet-level series of every collector group in the account and region.
  dynamic "metric_query" {
    for_each = length(var.dropped_metric_dimensions) == 0 ? [1] : []
    content {
      id          = "dropped"
      label       = "${each.value.metric_name} (fleet)"
      expression  = "SELECT SUM(\"${each.value.metric_name}\") FROM SCHEMA(\"${var.collector_metric_namespace}\", AutoScalingGroupName)"
      period      = 60
      return_data = true
    }
  }

  dynamic "metric_query" {
    for_each = length(var.dropped_metric_dimensions) == 0 ? [] : [1]
    content {
      id          = "dropped"
      return_data = true

      metric {
        namespace   = var.collector_metric_namespace
        metric_name = each.value.metric_name
        dimensions  = var.dropped_metric_dimensions
        stat        = "Sum"
        period      = 60
      }
    }
  }

  alarm_actions = local.actions
  ok_actions    = local.actions

  tags = var.tags
}

moved {
  from = aws_cloudwatch_metric_alarm.collector_drops
  to   = aws_cloudwatch_metric_alarm.collector_drops["packets_dropped"]
}

################################################################################
# Aggregator lag (data that reached Kafka but not yet the lake)
################################################################################

resource "aws_cloudwatch_metric_alarm" "consumer_lag" {
  count = var.msk_cluster_name == null ? 0 : 1

  alarm_name          = "${var.name}-aggregator-consumer-lag"
  alarm_description   = "Aggregators are more than ${var.max_consumer_lag_seconds}s behind on ${var.kafka_topic}: data ages towards the topic retention and may be lost."
  namespace           = "AWS/Kafka"
  metric_name         = "EstimatedMaxTimeLag"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 10
  datapoints_to_alarm = 8
  threshold           = var.max_consumer_lag_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "missing"

  dimensions = {
    "Cluster Name"   = var.msk_cluster_name
    "Consumer Group" = var.kafka_consumer_group
    "Topic"          = var.kafka_topic
  }

  alarm_actions = local.actions
  ok_actions    = local.actions

  tags = var.tags
}
