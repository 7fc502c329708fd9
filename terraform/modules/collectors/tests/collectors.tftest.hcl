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
  mock_data "aws_ssm_parameter" {
    defaults = { insecure_value = "ami-0123456789abcdef0" }
  }
}

variables {
  name                      = "mltest"
  vpc_id                    = "vpc-0123456789abcdef0"
  subnet_ids                = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
  target_group_arns         = ["arn:aws:elasticloadbalancing:ap-northeast-1:111122223333:targetgroup/mltest-vxlan/0123456789abcdef"]
  mirror_source_cidr_blocks = ["10.0.0.0/16", "10.1.0.0/16"]
  health_check_cidr_blocks  = ["10.20.0.0/16"]
  kafka_cidr_blocks         = ["10.20.0.0/16"]
  kafka_bootstrap_brokers   = "b-1.mltest.kafka.ap-northeast-1.amazonaws.com:9098,b-2.mltest.kafka.ap-northeast-1.amazonaws.com:9098"
  msk_cluster_arn           = "arn:aws:kafka:ap-northeast-1:111122223333:cluster/mltest/0f0e0d0c-0b0a-0908-0706-050403020100-1"
  collector_binary_url      = "https://artifacts.example.com/mirrorlake-collector-x86_64.tar.gz"
}

run "fleet_wiring" {
  command = plan

  assert {
    condition     = toset(module.fleet.autoscaling_group.target_group_arns) == toset(var.target_group_arns)
    error_message = "the ASG must be attached to the NLB target group"
  }

  assert {
    # Issue 23 (3): EC2, not ELB health checks: /healthz is readiness (503 while draining or
    # dropping: a spool full after a long MSK outage does that on every collector at once), and
    # ELB checks would replace the whole receiving fleet.
    condition     = module.fleet.autoscaling_group.health_check_type == "EC2"
    error_message = "the ASG must not replace collectors on the NLB health check (EC2 health checks)"
  }

  assert {
    condition = (
      module.fleet.autoscaling_group.name == "mltest-collectors" &&
      module.fleet.autoscaling_group.min_size == 2 &&
      module.fleet.autoscaling_group.max_size == 6 &&
      module.fleet.autoscaling_group.desired_capacity == 2 &&
      toset(module.fleet.autoscaling_group.vpc_zone_identifier) == toset(var.subnet_ids) &&
      module.fleet.autoscaling_group.health_check_grace_period == 300 &&
      module.fleet.autoscaling_group.default_instance_warmup == 120 &&
      module.fleet.autoscaling_group.instance_refresh[0].preferences[0].min_healthy_percentage == 66 &&
      toset(module.fleet.autoscaling_group.enabled_metrics) == toset(["GroupDesiredCapacity", "GroupInServiceInstances", "GroupPendingInstances", "GroupTerminatingInstances", "GroupTotalInstances"])
    )
    error_message = "the collectors' ASG settings (sizes, warmup, refresh a third at a time, group metrics) must reach the fleet"
  }

  assert {
    condition     = aws_autoscaling_policy.cpu[0].autoscaling_group_name == "mltest-collectors" && aws_autoscaling_policy.cpu[0].target_tracking_configuration[0].target_value == 60
    error_message = "target tracking on CPU expected"
  }

  assert {
    condition = (
      module.fleet.lifecycle_hook.name == "mltest-collector-drain" &&
      module.fleet.lifecycle_hook.lifecycle_transition == "autoscaling:EC2_INSTANCE_TERMINATING" &&
      module.fleet.lifecycle_hook.heartbeat_timeout >= 120 + 180 + 30 &&
      module.fleet.lifecycle_hook.default_result == "CONTINUE"
    )
    error_message = "a termination lifecycle hook long enough to drain and flush is required"
  }

  assert {
    condition     = module.fleet.launch_template.metadata_options[0].http_tokens == "required"
    error_message = "IMDSv2 must be required"
  }

  assert {
    condition     = module.fleet.launch_template.block_device_mappings[0].ebs[0].encrypted == "true" && module.fleet.launch_template.block_device_mappings[0].ebs[0].volume_size == 30
    error_message = "root volume must be encrypted, 30 GiB by default (the 20 GiB spool and the OS)"
  }

  assert {
    condition = (
      module.fleet.launch_template.name_prefix == "mltest-collector-" &&
      module.fleet.launch_template.instance_type == "c6in.large" &&
      module.fleet.launch_template.monitoring[0].enabled == true &&
      toset([for t in module.fleet.launch_template.tag_specifications : t.tags["mirrorlake:role"] if t.resource_type != "volume"]) == toset(["collector"]) &&
      toset([for t in module.fleet.launch_template.tag_specifications : t.resource_type]) == toset(["instance", "volume", "network-interface"])
    )
    error_message = "collector instances and ENIs must be tagged mirrorlake:role=collector (never mirrored)"
  }
}

run "security_group_rules" {
  command = plan

  assert {
    condition = alltrue([for r in aws_vpc_security_group_ingress_rule.vxlan :
    r.ip_protocol == "udp" && r.from_port == 4789 && r.to_port == 4789]) && toset(keys(aws_vpc_security_group_ingress_rule.vxlan)) == toset(var.mirror_source_cidr_blocks)
    error_message = "UDP 4789 must be open from every mirror source CIDR"
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.health_cidr["10.20.0.0/16"].ip_protocol == "tcp" && aws_vpc_security_group_ingress_rule.health_cidr["10.20.0.0/16"].from_port == 9090
    error_message = "TCP 9090 must be open from the VPC for NLB health checks"
  }

  assert {
    condition     = aws_vpc_security_group_egress_rule.kafka_cidr["10.20.0.0/16"].from_port == 9098
    error_message = "egress to MSK IAM port 9098 expected"
  }
}

# Issue 23 (4): IPv6 blocks of the mirror sources' VPC are allowed too (the validation refused them).
run "security_group_rules_ipv6" {
  command = plan

  variables {
    mirror_source_cidr_blocks = ["10.0.0.0/16", "100.64.0.0/16", "2600:1f18:1234:5600::/56"]
    health_check_cidr_blocks  = ["10.20.1.0/24", "2600:1f18:1234:5601::/64"]
  }

  assert {
    condition = (
      aws_vpc_security_group_ingress_rule.vxlan["10.0.0.0/16"].cidr_ipv4 == "10.0.0.0/16" &&
      aws_vpc_security_group_ingress_rule.vxlan["10.0.0.0/16"].cidr_ipv6 == null &&
      aws_vpc_security_group_ingress_rule.vxlan["100.64.0.0/16"].cidr_ipv4 == "100.64.0.0/16" &&
      aws_vpc_security_group_ingress_rule.vxlan["2600:1f18:1234:5600::/56"].cidr_ipv6 == "2600:1f18:1234:5600::/56" &&
      aws_vpc_security_group_ingress_rule.vxlan["2600:1f18:1234:5600::/56"].cidr_ipv4 == null
    )
    error_message = "UDP 4789 must be open from every IPv4 and IPv6 block of the sources, each in its own family's field"
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.health_cidr["2600:1f18:1234:5601::/64"].cidr_ipv6 == "2600:1f18:1234:5601::/64"
    error_message = "an IPv6 health-check block must be an IPv6 rule"
  }
}

# Issue 23 (8): drain_ms is the target group's deregistration delay (it was a fixed 30 s), and
# systemd leaves room to flush after it.
run "drain_ms_from_deregistration_delay" {
  command = plan

  variables {
    deregistration_delay_seconds             = 45
    drain_timeout_seconds                    = 90
    lifecycle_hook_heartbeat_timeout_seconds = 300
  }

  assert {
    condition     = strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/mirrorlake/collector.toml"]), "\ndrain_ms = 45000\n")
    error_message = "drain_ms must be the deregistration delay in milliseconds"
  }
}

run "rejects_drain_timeout_shorter_than_the_drain" {
  command = plan

  variables {
    deregistration_delay_seconds = 120
    drain_timeout_seconds        = 120
  }

  expect_failures = [aws_security_group.this]
}

# Issue 23 (8): the health port also serves /metrics; it is open to the NLB's subnets and the
# monitoring networks, nothing else.
run "metrics_from_monitoring_cidrs_only" {
  command = plan

  variables {
    health_check_cidr_blocks = ["10.20.1.0/24"]
    monitoring_cidr_blocks   = ["10.50.0.0/24", "10.20.1.0/24"]
  }

  assert {
    condition = (
      output.ingress_cidr_blocks.health == tolist(["10.20.1.0/24"]) &&
      output.ingress_cidr_blocks.metrics == tolist(["10.50.0.0/24"]) &&
      aws_vpc_security_group_ingress_rule.metrics_cidr["10.50.0.0/24"].from_port == 9090 &&
      aws_vpc_security_group_ingress_rule.metrics_cidr["10.50.0.0/24"].to_port == 9090
    )
    error_message = "the health/metrics port must be open from the NLB's blocks and the monitoring blocks only"
  }
}

# Issue 23 (3): the first collector creates the topic with the rate-sized partitions.
# Issue 23 (1): with Object Lock, S3 refuses uploads without a checksum; every unit Terraform
# writes for our binaries sets AWS_CHECKSUM_ALGORITHM.
run "units_send_checksums" {
  command = plan

  assert {
    condition     = strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/systemd/system/mirrorlake-collector.service"]), "\nEnvironment=AWS_CHECKSUM_ALGORITHM=SHA256\n")
    error_message = "the collector unit must set AWS_CHECKSUM_ALGORITHM=SHA256"
  }
}

run "first_collector_creates_the_topic" {
  command = plan

  variables {
    kafka_topic_partitions         = 27
    kafka_topic_replication_factor = 3
  }

  assert {
    condition = (
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/mirrorlake/collector.toml"]), "\npartitions = 27\nreplication = 3\n") &&
      contains(one([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Action if s.Sid == "MskProduceToTopic"]), "kafka-cluster:CreateTopic") &&
      one([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Resource if s.Sid == "MskProduceToTopic"]) == [output.kafka_topic_arn]
    )
    error_message = "the collectors may create the one topic, with the given partitions and replication"
  }
}

run "user_data_installs_and_starts_the_collector" {
  command = plan

  assert {
    condition     = startswith(output.user_data, "#cloud-config\n")
    error_message = "user data must be cloud-init"
  }

  assert {
    condition     = strcontains(base64decode(module.fleet.launch_template.user_data), "ExecStart=/usr/local/bin/mirrorlake-collector run --config /etc/mirrorlake/collector.toml")
    error_message = "the systemd unit must run the collector with its config file"
  }

  assert {
    condition = (
      strcontains(output.user_data, "/etc/systemd/system/mirrorlake-collector.service") &&
      strcontains(output.user_data, "/etc/mirrorlake/collector.toml") &&
      strcontains(output.user_data, "https://artifacts.example.com/mirrorlake-collector-x86_64.tar.gz") &&
      strcontains(output.user_data, "topic = \"mirrorlake.packets\"")
    )
    error_message = "user data must write the unit and the config and download the binary"
  }

  assert {
    condition     = strcontains(output.user_data, "net.core.rmem_max = 67108864") && yamldecode(output.user_data).runcmd[0] == ["sysctl", "--system"]
    error_message = "rmem_max must be raised to the requested socket buffer before the collector starts"
  }

  assert {
    condition = (
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/systemd/system/mirrorlake-collector.service"]), "TimeoutStopSec=180\n") &&
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/usr/local/sbin/mirrorlake-lifecycle-watch"]), "sleep 120\nsystemctl stop mirrorlake-collector.service") &&
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/usr/local/sbin/mirrorlake-lifecycle-watch"]), "--auto-scaling-group-name \"mltest-collectors\" --lifecycle-hook-name \"mltest-collector-drain\"")
    )
    error_message = "the drain timeout and the NLB deregistration delay must reach the unit and the lifecycle watcher"
  }

  assert {
    condition     = toset(keys(jsondecode(one([for f in yamldecode(output.user_data).write_files : f.content if endswith(f.path, "amazon-cloudwatch-agent.json")])).metrics.metrics_collected)) == toset(["mem", "disk", "ethtool"])
    error_message = "the agent must collect the ENA allowance counters"
  }
}

# The disk spool (cluster mode): collector.toml's [spool] on the root volume, bounded by
# spool_max_bytes; the unit makes /var/lib/mirrorlake writable (StateDirectory) under
# ProtectSystem=strict, or the collector could not open its spool.
run "spool_in_cluster_config" {
  command = plan

  assert {
    condition     = endswith(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/mirrorlake/collector.toml"]), "\n[spool]\ndir = \"/var/lib/mirrorlake/spool\"\nmax_bytes = 21474836480\n")
    error_message = "the cluster collector.toml must end with a [spool] in /var/lib/mirrorlake/spool bounded by the default spool_max_bytes (20 GiB)"
  }

  assert {
    condition = (
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/systemd/system/mirrorlake-collector.service"]), "\nProtectSystem=strict\n") &&
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/systemd/system/mirrorlake-collector.service"]), "\nStateDirectory=mirrorlake\n")
    )
    error_message = "the unit must make /var/lib/mirrorlake (the spool's parent) writable with StateDirectory"
  }
}

run "spool_max_bytes_reaches_the_config" {
  command = plan

  variables {
    spool_max_bytes     = 107374182400 # 100 GiB
    root_volume_size_gb = 108
  }

  assert {
    condition     = strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/mirrorlake/collector.toml"]), "\n[spool]\ndir = \"/var/lib/mirrorlake/spool\"\nmax_bytes = 107374182400\n")
    error_message = "spool_max_bytes must reach spool.max_bytes"
  }

  assert {
    condition     = module.fleet.launch_template.block_device_mappings[0].ebs[0].volume_size == 108
    error_message = "root_volume_size_gb must reach the launch template"
  }
}

run "rejects_spool_below_4_mib" {
  command = plan

  variables {
    spool_max_bytes = 4194303
  }

  expect_failures = [var.spool_max_bytes]
}

# A 100 GiB spool on the default 30 GiB root volume would fill the disk first.
run "rejects_root_volume_smaller_than_the_spool" {
  command = plan

  variables {
    spool_max_bytes = 107374182400
  }

  expect_failures = [aws_security_group.this]
}

run "kafka_auth_is_msk_iam" {
  command = plan

  # MSK here is IAM-only: the collector reaches the IAM listener (9098) and turns on its own MSK IAM
  # token source with the two client options; the token is signed for AWS_REGION.
  assert {
    condition = strcontains(
      one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/mirrorlake/collector.toml"]),
      "[kafka]\nbrokers = \"b-1.mltest.kafka.ap-northeast-1.amazonaws.com:9098,b-2.mltest.kafka.ap-northeast-1.amazonaws.com:9098\"\ntopic = \"mirrorlake.packets\"\n# When the topic does not exist yet, the first collector creates it with these\n# (and a max.message.bytes that fits its messages); the aggregators wait for it.\npartitions = 12\nreplication = 3\n\n[kafka.options]\n\"security.protocol\" = \"SASL_SSL\"\n\"sasl.mechanism\" = \"OAUTHBEARER\"\n"
    )
    error_message = "collector.toml must name the IAM brokers and set security.protocol=SASL_SSL and sasl.mechanism=OAUTHBEARER"
  }

  assert {
    condition = alltrue([for s in ["sasl.username", "sasl.password", "SCRAM", "cannot", "not have yet"] :
    !strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/mirrorlake/collector.toml"]), s)])
    error_message = "no SCRAM credentials and no note that MSK IAM is unsupported"
  }

  assert {
    condition = (
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/systemd/system/mirrorlake-collector.service"]), "\nEnvironment=AWS_REGION=ap-northeast-1\n") &&
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/systemd/system/mirrorlake-collector.service"]), "\nStartLimitIntervalSec=0\n")
    )
    error_message = "the unit must give the collector AWS_REGION (the MSK IAM token's region) and keep restarting it until MSK answers"
  }
}

run "rejects_non_iam_brokers" {
  command = plan

  variables {
    # The TLS-only listener: no IAM there (and the security groups open 9098 only).
    kafka_bootstrap_brokers = "b-1.mltest.kafka.ap-northeast-1.amazonaws.com:9094"
  }

  expect_failures = [var.kafka_bootstrap_brokers]
}

run "rejects_a_topic_arn_as_cluster_arn" {
  command = plan

  variables {
    msk_cluster_arn = "arn:aws:kafka:ap-northeast-1:111122223333:topic/mltest/0f0e0d0c-0b0a-0908-0706-050403020100-1/mirrorlake.packets"
  }

  expect_failures = [var.msk_cluster_arn]
}

run "drop_counters_reach_cloudwatch" {
  command = plan

  # The CloudWatch agent scrapes the collector's /metrics and publishes the drop counters listed in
  # cloudwatch-metrics.json (checked against collector/src/metrics.rs by test.sh) as EMF.
  assert {
    condition = yamldecode(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/opt/aws/amazon-cloudwatch-agent/etc/mirrorlake-prometheus.yaml"])) == {
      global = { scrape_interval = "1m", scrape_timeout = "10s" }
      scrape_configs = [{
        job_name       = "mirrorlake-collector"
        metrics_path   = "/metrics"
        static_configs = [{ targets = ["127.0.0.1:9090"], labels = { AutoScalingGroupName = "mltest-collectors" } }]
        metric_relabel_configs = [{
          source_labels = ["__name__"]
          regex         = "mirrorlake_kernel_drops_total|mirrorlake_packets_dropped_total"
          action        = "keep"
        }]
      }]
    }
    error_message = "the agent must scrape the health port's /metrics, label the series with the ASG and keep only the drop counters"
  }

  assert {
    condition = jsondecode(one([for f in yamldecode(output.user_data).write_files : f.content if endswith(f.path, "amazon-cloudwatch-agent.json")])).logs == {
      metrics_collected = {
        prometheus = {
          log_group_name         = "/mirrorlake/mltest/collectors/prometheus"
          prometheus_config_path = "/opt/aws/amazon-cloudwatch-agent/etc/mirrorlake-prometheus.yaml"
          emf_processor = {
            metric_declaration_dedup = true
            metric_namespace         = "mirrorlake"
            metric_unit              = { mirrorlake_kernel_drops_total = "Count", mirrorlake_packets_dropped_total = "Count" }
            metric_declaration = [
              {
                source_labels    = ["job"]
                label_matcher    = "^mirrorlake-collector$"
                dimensions       = [["AutoScalingGroupName"]]
                metric_selectors = ["^mirrorlake_kernel_drops_total$"]
              },
              {
                source_labels    = ["job"]
                label_matcher    = "^mirrorlake-collector$"
                dimensions       = [["AutoScalingGroupName"], ["AutoScalingGroupName", "reason"]]
                metric_selectors = ["^mirrorlake_packets_dropped_total$"]
              },
            ]
          }
        }
      }
    }
    error_message = "the agent must publish both drop counters to namespace mirrorlake, per ASG (and per reason), through the module's log group"
  }

  assert {
    condition = (
      toset(values(output.cloudwatch_metric_names)) == toset([for m in jsondecode(file("cloudwatch-metrics.json")).metrics : m.name]) &&
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if endswith(f.path, "mirrorlake-prometheus.yaml")]), join("|", sort(values(output.cloudwatch_metric_names))))
    )
    error_message = "the scraped names must be exactly those of cloudwatch-metrics.json"
  }

  assert {
    condition = (
      output.cloudwatch_namespace == "mirrorlake" &&
      output.cloudwatch_metric_names == { packets_dropped = "mirrorlake_packets_dropped_total", kernel_drops = "mirrorlake_kernel_drops_total" } &&
      output.cloudwatch_dimensions == { AutoScalingGroupName = "mltest-collectors" }
    )
    error_message = "the alarms module needs the namespace, the metric names and the fleet-level dimension"
  }

  assert {
    condition = (
      aws_cloudwatch_log_group.prometheus.name == "/mirrorlake/mltest/collectors/prometheus" &&
      aws_cloudwatch_log_group.prometheus.retention_in_days == 365 &&
      output.metrics_log_group_name == aws_cloudwatch_log_group.prometheus.name
    )
    error_message = "the EMF records need a log group with a retention"
  }

  assert {
    condition     = length(output.user_data) <= 16384 - 2048
    error_message = "keep at least 2 KiB of the 16 KiB user data limit free for collector_config_toml overrides"
  }
}

run "iam_is_scoped_to_the_topic" {
  command = plan

  assert {
    condition     = output.kafka_topic_arn == "arn:aws:kafka:ap-northeast-1:111122223333:topic/mltest/0f0e0d0c-0b0a-0908-0706-050403020100-1/mirrorlake.packets"
    error_message = "topic ARN must be derived from the cluster ARN"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement :
      alltrue([for r in s.Resource : r != "*"])
    ])
    error_message = "no statement may use Resource *"
  }

  assert {
    condition = contains(
      [for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Sid if contains(s.Action, "kafka-cluster:WriteData")],
      "MskProduceToTopic"
    )
    error_message = "WriteData must be granted on the topic"
  }

  assert {
    condition = {
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Sid => toset(s.Action)
      } == {
      MskConnect                 = toset(["kafka-cluster:Connect", "kafka-cluster:DescribeCluster", "kafka-cluster:WriteDataIdempotently"])
      MskProduceToTopic          = toset(["kafka-cluster:DescribeTopic", "kafka-cluster:DescribeTopicDynamicConfiguration", "kafka-cluster:CreateTopic", "kafka-cluster:WriteData"])
      CompleteOwnLifecycleAction = toset(["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"])
    }
    error_message = "MSK IAM: connect, describe the cluster, idempotent produce on the cluster; describe, check the config of, create (the first collector) and write to the topic only; no AlterTopic, ReadData or group action"
  }

  assert {
    condition     = alltrue([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Effect == "Allow" && !contains(keys(s), "Condition")])
    error_message = "allow statements without conditions expected"
  }

  assert {
    condition     = toset(module.fleet.iam_managed_policy_arns) == toset(["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore", "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"])
    error_message = "SSM core and CloudWatch agent policies expected"
  }

  assert {
    condition = {
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Sid => s.Resource
      } == {
      MskConnect                 = [var.msk_cluster_arn]
      MskProduceToTopic          = [output.kafka_topic_arn]
      CompleteOwnLifecycleAction = ["arn:aws:autoscaling:ap-northeast-1:111122223333:autoScalingGroup:*:autoScalingGroupName/mltest-collectors"]
    }
    error_message = "the collectors' own statements plus completing their own lifecycle action, nothing else"
  }
}

run "s3_binary_gets_object_permission" {
  command = plan

  variables {
    collector_binary_url    = null
    collector_binary_s3_uri = "s3://mltest-artifacts/collector/mirrorlake-collector"
  }

  assert {
    condition     = strcontains(aws_iam_role_policy.this.policy, "arn:aws:s3:::mltest-artifacts/collector/mirrorlake-collector")
    error_message = "the role must be able to fetch exactly the binary object"
  }
}

run "rejects_t2" {
  command = plan

  variables {
    instance_type = "t2.large"
  }

  expect_failures = [var.instance_type]
}

run "rejects_bare_metal" {
  command = plan

  variables {
    instance_type = "c5n.metal"
  }

  expect_failures = [var.instance_type]
}

# The launch template and lifecycle hook preconditions (architecture vs instance type, exactly one
# binary source, heartbeat >= deregistration delay + drain timeout + 30 s) live in modules/fleet and
# are tested there with these numbers; the runs above check that this module hands the fleet its
# values (instance type, binary, the 120 s delay and drain in the unit and the watcher).

run "rejects_no_health_check_source" {
  command = plan

  variables {
    health_check_cidr_blocks = []
  }

  expect_failures = [aws_security_group.this]
}

run "rejects_no_kafka_egress" {
  command = plan

  variables {
    kafka_cidr_blocks = []
  }

  expect_failures = [aws_security_group.this]
}

# Issue 24 (3): behind the NLB (target_kind defaults to "nlb") nothing of the GWLB path: no
# geneve_listen, no rules for a GWLB's subnets.
run "nlb_path_has_no_geneve" {
  command = plan

  assert {
    condition = (
      !strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/mirrorlake/collector.toml"]), "geneve_listen") &&
      length(aws_vpc_security_group_ingress_rule.gwlb_geneve) == 0 &&
      length(aws_vpc_security_group_ingress_rule.gwlb_health) == 0 &&
      length(output.ingress_cidr_blocks.gwlb) == 0
    )
    error_message = "no GENEVE listener and no GWLB rules behind the NLB"
  }
}

# Behind the NLB the collectors see the sources' own addresses: with none listed nothing is admitted.
run "rejects_nlb_without_mirror_sources" {
  command = plan

  variables {
    mirror_source_cidr_blocks = []
  }

  expect_failures = [aws_security_group.this]
}
