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
  name                    = "mltest"
  nlb_arn_suffix          = "net/mltest-mirror/0123456789abcdef"
  target_group_arn_suffix = "targetgroup/mltest-vxlan/0123456789abcdef"
  email_endpoints         = ["oncall@example.com"]
}

run "nlb_alarms" {
  command = plan

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.unhealthy_hosts.namespace == "AWS/NetworkELB" &&
      aws_cloudwatch_metric_alarm.unhealthy_hosts.metric_name == "UnHealthyHostCount" &&
      aws_cloudwatch_metric_alarm.unhealthy_hosts.threshold == 0 &&
      aws_cloudwatch_metric_alarm.unhealthy_hosts.comparison_operator == "GreaterThanThreshold" &&
      aws_cloudwatch_metric_alarm.unhealthy_hosts.dimensions["TargetGroup"] == var.target_group_arn_suffix
    )
    error_message = "UnHealthyHostCount > 0 on the mirror target group expected"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.healthy_hosts.treat_missing_data == "breaching" && aws_cloudwatch_metric_alarm.healthy_hosts.threshold == 1
    error_message = "no healthy collectors (or no data) must alarm"
  }
}

run "mirror_skip_fleet_query" {
  command = plan

  assert {
    condition     = toset(keys(aws_cloudwatch_metric_alarm.mirror_skip_fleet)) == toset(["In", "Out"])
    error_message = "one fleet-wide skip alarm per direction"
  }

  assert {
    condition     = one(aws_cloudwatch_metric_alarm.mirror_skip_fleet["In"].metric_query).expression == "SELECT SUM(NetworkPacketsSkipMirrorIn) FROM SCHEMA(\"AWS/EC2\", InstanceId)"
    error_message = "fleet skip alarm must sum the per-instance metric with Metrics Insights"
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.mirror_skip_instance) == 0
    error_message = "no per-instance alarms without instance ids"
  }
}

run "mirror_skip_per_instance" {
  command = plan

  variables {
    mirror_source_instance_ids = ["i-0123456789abcdef0"]
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.mirror_skip_instance["i-0123456789abcdef0-Out"].metric_name == "NetworkPacketsSkipMirrorOut" &&
      aws_cloudwatch_metric_alarm.mirror_skip_instance["i-0123456789abcdef0-Out"].dimensions["InstanceId"] == "i-0123456789abcdef0" &&
      length(aws_cloudwatch_metric_alarm.mirror_skip_instance) == 2
    )
    error_message = "one alarm per listed instance and direction"
  }
}

run "collector_drops" {
  command = plan

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.collector_drops["packets_dropped"].alarm_name == "mltest-collector-packets-dropped" &&
      one(aws_cloudwatch_metric_alarm.collector_drops["packets_dropped"].metric_query).expression == "SELECT SUM(\"mirrorlake_packets_dropped_total\") FROM SCHEMA(\"mirrorlake\", AutoScalingGroupName)" &&
      aws_cloudwatch_metric_alarm.collector_drops["packets_dropped"].threshold == 1000
    )
    error_message = "collector drop alarm on the fleet-level series of mirrorlake/mirrorlake_packets_dropped_total expected (the per-reason series must not be summed too)"
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.collector_drops["kernel_drops"].alarm_name == "mltest-collector-kernel-drops" &&
      one(aws_cloudwatch_metric_alarm.collector_drops["kernel_drops"].metric_query).expression == "SELECT SUM(\"mirrorlake_kernel_drops_total\") FROM SCHEMA(\"mirrorlake\", AutoScalingGroupName)" &&
      aws_cloudwatch_metric_alarm.collector_drops["kernel_drops"].comparison_operator == "GreaterThanThreshold"
    )
    error_message = "kernel drops (socket buffer full) must alarm too"
  }

  assert {
    # The names the collectors module publishes (its cloudwatch-metrics.json) are the defaults here.
    condition = toset([for a in aws_cloudwatch_metric_alarm.collector_drops : one(a.metric_query).label]) == toset([
      for m in jsondecode(file("../collectors/cloudwatch-metrics.json")).metrics : "${m.name} (fleet)"
    ])
    error_message = "the default metric names must be the ones the collectors module publishes"
  }

  assert {
    condition     = aws_sns_topic_subscription.email["oncall@example.com"].protocol == "email"
    error_message = "e-mail subscription expected"
  }

  assert {
    condition     = length(aws_kms_key.this) == 1 && strcontains(aws_kms_key.this[0].policy, "cloudwatch.amazonaws.com")
    error_message = "the topic key must let CloudWatch publish"
  }
}

run "collector_drops_with_dimensions" {
  command = plan

  variables {
    dropped_metric_dimensions = { AutoScalingGroupName = "mltest-collectors" }
    msk_cluster_name          = "mltest"
  }

  assert {
    condition = alltrue([
      for k, a in aws_cloudwatch_metric_alarm.collector_drops :
      one(a.metric_query).metric[0].dimensions == tomap({ AutoScalingGroupName = "mltest-collectors" }) &&
      one(a.metric_query).metric[0].stat == "Sum" &&
      one(a.metric_query).metric[0].namespace == "mirrorlake"
    ]) && one(aws_cloudwatch_metric_alarm.collector_drops["kernel_drops"].metric_query).metric[0].metric_name == "mirrorlake_kernel_drops_total"
    error_message = "explicit dimensions must be used for both drop alarms when given"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.consumer_lag[0].dimensions["Consumer Group"] == "mirrorlake-aggregator"
    error_message = "consumer lag alarm expected when the MSK cluster is named"
  }
}

# Issue 24: behind a Gateway Load Balancer the health metrics are in AWS/GatewayELB.
run "gwlb_alarms" {
  command = plan

  variables {
    target_kind             = "gwlb"
    nlb_arn_suffix          = "gwy/mltest-gwlb/0123456789abcdef"
    target_group_arn_suffix = "targetgroup/mltest-geneve/0123456789abcdef"
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.unhealthy_hosts.namespace == "AWS/GatewayELB" &&
      aws_cloudwatch_metric_alarm.healthy_hosts.namespace == "AWS/GatewayELB" &&
      aws_cloudwatch_metric_alarm.unhealthy_hosts.alarm_name == "mltest-gwlb-unhealthy-collectors" &&
      aws_cloudwatch_metric_alarm.healthy_hosts.alarm_name == "mltest-gwlb-too-few-healthy-collectors" &&
      aws_cloudwatch_metric_alarm.healthy_hosts.dimensions == tomap({ LoadBalancer = var.nlb_arn_suffix, TargetGroup = var.target_group_arn_suffix })
    )
    error_message = "the GWLB's health alarms must read AWS/GatewayELB for its load balancer and target group"
  }
}

run "nlb_alarm_names_unchanged" {
  command = plan

  assert {
    condition     = aws_cloudwatch_metric_alarm.unhealthy_hosts.alarm_name == "mltest-nlb-unhealthy-collectors" && aws_cloudwatch_metric_alarm.healthy_hosts.alarm_name == "mltest-nlb-too-few-healthy-collectors"
    error_message = "the NLB's alarms keep their names"
  }
}

# A GWLB's suffix with the NLB's namespace: the alarms would never see data.
run "rejects_kind_not_matching_the_load_balancer" {
  command = plan

  variables {
    nlb_arn_suffix = "gwy/mltest-gwlb/0123456789abcdef"
  }

  expect_failures = [aws_cloudwatch_metric_alarm.unhealthy_hosts]
}
