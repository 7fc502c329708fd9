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
  name                    = "mltest"
  vpc_id                  = "vpc-0123456789abcdef0"
  subnet_ids              = ["subnet-0123456789abcdef0"]
  kafka_cidr_blocks       = ["10.20.0.0/16"]
  kafka_bootstrap_brokers = "b-1.mltest.kafka.ap-northeast-1.amazonaws.com:9098"
  msk_cluster_arn         = "arn:aws:kafka:ap-northeast-1:111122223333:cluster/mltest/0f0e0d0c-0b0a-0908-0706-050403020100-1"
  lake_bucket_name        = "mltest-lake"
  lake_prefix             = "archive"
  lake_kms_key_arn        = "arn:aws:kms:ap-northeast-1:111122223333:key/01234567-89ab-cdef-0123-456789abcdef"
  aggregator_binary_url   = "https://artifacts.example.com/mirrorlake-aggregator"
}

run "iam_least_privilege" {
  command = plan

  assert {
    condition = {
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Sid => s.Resource
      } == {
      MskConnect                 = [var.msk_cluster_arn]
      MskReadTopic               = ["arn:aws:kafka:ap-northeast-1:111122223333:topic/mltest/0f0e0d0c-0b0a-0908-0706-050403020100-1/mirrorlake.packets"]
      MskConsumerGroup           = ["arn:aws:kafka:ap-northeast-1:111122223333:group/mltest/0f0e0d0c-0b0a-0908-0706-050403020100-1/mirrorlake-aggregator"]
      LakeWriteObjects           = ["arn:aws:s3:::mltest-lake/archive/*"]
      LakeDeleteObjects          = ["arn:aws:s3:::mltest-lake/archive/*"]
      LakeListPrefix             = ["arn:aws:s3:::mltest-lake"]
      CompactElection            = ["*"]
      LakeKmsViaS3               = [var.lake_kms_key_arn]
      CompleteOwnLifecycleAction = ["arn:aws:autoscaling:ap-northeast-1:111122223333:autoScalingGroup:*:autoScalingGroupName/mltest-aggregators"]
    }
    error_message = "every statement must be scoped to its exact resource"
  }

  assert {
    condition = toset(one([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Action if s.Sid == "LakeWriteObjects"])) == toset(
      ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    )
    error_message = "object permissions must be limited to put/get/abort"
  }

  # Issue 23 (5): compact deletes the files it merged: s3:DeleteObject below the lake prefix only,
  # and the election reads the group (Describe has no resource-level permissions).
  assert {
    condition = (
      one([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Action if s.Sid == "LakeDeleteObjects"]) == ["s3:DeleteObject"] &&
      one([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Action if s.Sid == "CompactElection"]) == ["autoscaling:DescribeAutoScalingGroups"] &&
      length([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s if contains(s.Action, "s3:DeleteObject")]) == 1
    )
    error_message = "s3:DeleteObject only below the lake prefix, DescribeAutoScalingGroups for the election"
  }

  assert {
    condition     = toset(one([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Action if s.Sid == "MskConsumerGroup"])) == toset(["kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"])
    error_message = "group permissions expected"
  }

  assert {
    condition = {
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Sid => toset(s.Action) if startswith(s.Sid, "Msk")
      } == {
      MskConnect       = toset(["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"])
      MskReadTopic     = toset(["kafka-cluster:DescribeTopic", "kafka-cluster:DescribeTopicDynamicConfiguration", "kafka-cluster:ReadData"])
      MskConsumerGroup = toset(["kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"])
    }
    error_message = "MSK IAM: connect and describe the cluster; describe, check the config of and read the topic; use the consumer group; no CreateTopic, AlterTopic, WriteData or cluster-wide grant"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement :
      alltrue([for a in s.Action : startswith(a, "kafka-cluster:") == startswith(s.Sid, "Msk")])
    ])
    error_message = "kafka-cluster actions only in the Msk statements (scoped to the cluster, topic and group ARNs above)"
  }
}

run "kafka_auth_is_msk_iam" {
  command = plan

  # MSK here is IAM-only: the aggregator reaches the IAM listener (9098) and turns on its own MSK IAM
  # token source with the two client options; the token is signed for AWS_REGION.
  assert {
    condition = strcontains(
      one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/mirrorlake/aggregator.toml"]),
      "[kafka]\nbrokers = \"b-1.mltest.kafka.ap-northeast-1.amazonaws.com:9098\"\ntopic = \"mirrorlake.packets\"\ngroup = \"mirrorlake-aggregator\"\n"
    )
    error_message = "aggregator.toml must name the IAM brokers, the topic and the group"
  }

  assert {
    condition = strcontains(
      one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/mirrorlake/aggregator.toml"]),
      "[kafka.options]\n\"security.protocol\" = \"SASL_SSL\"\n\"sasl.mechanism\" = \"OAUTHBEARER\"\n\"max.partition.fetch.bytes\" = \"2097152\"\n\"fetch.max.bytes\" = \"8388608\"\n"
    )
    error_message = "aggregator.toml must set security.protocol=SASL_SSL and sasl.mechanism=OAUTHBEARER (and fetch sizes of at least the topic's max.message.bytes)"
  }

  assert {
    condition = alltrue([for s in ["sasl.username", "sasl.password", "SCRAM", "cannot", "not have yet"] :
    !strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/mirrorlake/aggregator.toml"]), s)])
    error_message = "no SCRAM credentials and no note that MSK IAM is unsupported"
  }

  assert {
    condition = (
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/systemd/system/mirrorlake-aggregator.service"]), "\nEnvironment=AWS_REGION=ap-northeast-1\n") &&
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/systemd/system/mirrorlake-aggregator.service"]), "\nStartLimitIntervalSec=0\n")
    )
    error_message = "the unit must give the aggregator AWS_REGION (the MSK IAM token's and the S3 lake's region) and keep restarting it until the topic exists"
  }
}

run "rejects_non_iam_brokers" {
  command = plan

  variables {
    # SASL/SCRAM listener: not enabled on this cluster (and the security groups open 9098 only).
    kafka_bootstrap_brokers = "b-1.mltest.kafka.ap-northeast-1.amazonaws.com:9098,b-2.mltest.kafka.ap-northeast-1.amazonaws.com:9096"
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

run "user_data_runs_the_aggregator" {
  command = plan

  assert {
    condition     = strcontains(output.user_data, "ExecStart=/usr/local/bin/mirrorlake-aggregator run --config /etc/mirrorlake/aggregator.toml")
    error_message = "the systemd unit must run the aggregator"
  }

  assert {
    condition     = strcontains(output.user_data, "lake = \"s3://mltest-lake/archive\"")
    error_message = "the aggregator config must name the lake bucket and prefix"
  }

  assert {
    condition     = aws_vpc_security_group_egress_rule.https.from_port == 443 && aws_vpc_security_group_egress_rule.kafka_cidr["10.20.0.0/16"].from_port == 9098
    error_message = "aggregators need egress to HTTPS and MSK 9098 only"
  }
}

# Issue 23 (5): the aggregators run compact on a timer, one elected host at a time.
run "compaction_on_one_aggregator" {
  command = plan

  assert {
    condition = (
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/systemd/system/mirrorlake-compact.service"]), "ExecStart=/usr/local/bin/mirrorlake-aggregator compact --settle-minutes 120 --target-file-mb 128\n") &&
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/systemd/system/mirrorlake-compact.service"]), "Environment=MIRRORLAKE_LAKE=s3://mltest-lake/archive\n") &&
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/systemd/system/mirrorlake-compact.service"]), "Environment=AWS_REGION=ap-northeast-1\n") &&
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/systemd/system/mirrorlake-compact.service"]), "ExecCondition=/usr/local/sbin/mirrorlake-compact-elected\n")
    )
    error_message = "the compact unit must run compact on the lake, with the region, behind the election"
  }

  assert {
    condition = (
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/systemd/system/mirrorlake-compact.timer"]), "OnCalendar=*:07/15\n") &&
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/usr/local/sbin/mirrorlake-compact-elected"]), "--auto-scaling-group-names \"mltest-aggregators\"") &&
      contains(yamldecode(output.user_data).runcmd, ["systemctl", "enable", "--now", "mirrorlake-compact.timer"])
    )
    error_message = "the compact timer must be enabled, every 15 minutes, and elect within this group"
  }
}

# compact --all-files re-encodes every byte of the lake once (12.5 CPU-s per GB on the elected
# host, docs/sizing.md): opt-in only.
run "compaction_all_files_off_by_default" {
  command = plan

  assert {
    condition = (
      length(regexall("(?m)^ExecStart=.*--all-files", one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/systemd/system/mirrorlake-compact.service"]))) == 0 &&
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/systemd/system/mirrorlake-compact.service"]), "\nExecStart=/usr/local/bin/mirrorlake-aggregator compact --settle-minutes 120 --target-file-mb 128\n")
    )
    error_message = "by default compact must rewrite only the small files: no --all-files on ExecStart"
  }
}

run "compaction_all_files" {
  command = plan

  variables {
    compact_all_files = true
  }

  assert {
    condition     = strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/systemd/system/mirrorlake-compact.service"]), "\nExecStart=/usr/local/bin/mirrorlake-aggregator compact --settle-minutes 120 --target-file-mb 128 --all-files\n")
    error_message = "with compact_all_files = true, ExecStart must end in --all-files"
  }
}

# Issue 23 (1): with Object Lock, S3 refuses uploads without a checksum; the aggregator and the
# compaction units set AWS_CHECKSUM_ALGORITHM.
run "units_send_checksums" {
  command = plan

  assert {
    condition = alltrue([for path in ["/etc/systemd/system/mirrorlake-aggregator.service", "/etc/systemd/system/mirrorlake-compact.service"] :
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == path]), "\nEnvironment=AWS_CHECKSUM_ALGORITHM=SHA256\n")
    ])
    error_message = "the aggregator and compact units must set AWS_CHECKSUM_ALGORITHM=SHA256"
  }
}

run "compaction_off" {
  command = plan

  variables {
    compact_interval_minutes = null
  }

  assert {
    condition = (
      length([for f in yamldecode(output.user_data).write_files : f if strcontains(f.path, "compact")]) == 0 &&
      length([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s if s.Sid == "CompactElection"]) == 0
    )
    error_message = "no compaction unit and no election permission when compaction is off"
  }
}

run "fleet_wiring" {
  command = plan

  assert {
    condition = (
      module.fleet.autoscaling_group.name == "mltest-aggregators" &&
      module.fleet.autoscaling_group.min_size == 2 &&
      module.fleet.autoscaling_group.max_size == 4 &&
      module.fleet.autoscaling_group.health_check_type == "EC2" &&
      module.fleet.autoscaling_group.health_check_grace_period == 300 &&
      module.fleet.autoscaling_group.default_instance_warmup == null &&
      module.fleet.autoscaling_group.instance_refresh[0].preferences[0].min_healthy_percentage == 50 &&
      toset(module.fleet.autoscaling_group.enabled_metrics) == toset(["GroupDesiredCapacity", "GroupInServiceInstances", "GroupTerminatingInstances", "GroupTotalInstances"])
    )
    error_message = "the aggregators' ASG settings (no load balancer: EC2 health checks, half the fleet kept during a refresh) must reach the fleet"
  }

  assert {
    condition = (
      module.fleet.lifecycle_hook.name == "mltest-aggregator-drain" &&
      module.fleet.lifecycle_hook.lifecycle_transition == "autoscaling:EC2_INSTANCE_TERMINATING" &&
      module.fleet.lifecycle_hook.heartbeat_timeout == 420 &&
      module.fleet.lifecycle_hook.default_result == "CONTINUE"
    )
    error_message = "a termination lifecycle hook covering the 300 s drain is required"
  }

  assert {
    condition = (
      module.fleet.launch_template.name_prefix == "mltest-aggregator-" &&
      module.fleet.launch_template.instance_type == "m6i.large" &&
      module.fleet.launch_template.metadata_options[0].http_tokens == "required" &&
      module.fleet.launch_template.block_device_mappings[0].ebs[0].encrypted == "true" &&
      module.fleet.launch_template.block_device_mappings[0].ebs[0].volume_size == 50 &&
      [for t in module.fleet.launch_template.tag_specifications : t.resource_type] == ["instance", "volume"] &&
      module.fleet.launch_template.tag_specifications[0].tags["mirrorlake:role"] == "aggregator"
    )
    error_message = "IMDSv2, an encrypted 50 GB root volume and instances tagged mirrorlake:role=aggregator expected"
  }

  assert {
    condition = (
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/systemd/system/mirrorlake-aggregator.service"]), "TimeoutStopSec=300\n") &&
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/usr/local/sbin/mirrorlake-lifecycle-watch"]), "sleep 0\nsystemctl stop mirrorlake-aggregator.service")
    )
    error_message = "the watcher must stop the aggregator at once (no load balancer) and the unit allow the 300 s drain"
  }

  assert {
    condition     = toset(module.fleet.iam_managed_policy_arns) == toset(["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore", "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"])
    error_message = "SSM core and CloudWatch agent policies expected"
  }
}

# The lifecycle hook's heartbeat check (>= drain_timeout_seconds + 30 s here) and the launch
# template's preconditions live in modules/fleet and are tested there with these numbers.

run "rejects_no_kafka_egress" {
  command = plan

  variables {
    kafka_cidr_blocks = []
  }

  expect_failures = [aws_security_group.this]
}

# Follower fetching: client.rack is the instance's AZ ID (MSK's broker.rack), read from IMDSv2
# before every start; without an answer the argument is left out and the aggregator still starts.
run "client_rack_from_the_az_id" {
  command = plan

  assert {
    condition = alltrue([for s in [
      "\nRuntimeDirectory=mirrorlake-aggregator\n",
      "\nEnvironmentFile=-/run/mirrorlake-aggregator/client-rack.env\n",
      "\nExecStartPre=-/usr/local/sbin/mirrorlake-client-rack /run/mirrorlake-aggregator/client-rack.env\n",
      "\nExecStart=/usr/local/bin/mirrorlake-aggregator run --config /etc/mirrorlake/aggregator.toml $MIRRORLAKE_CLIENT_RACK_ARG\n",
      ] : strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/systemd/system/mirrorlake-aggregator.service"]), s)
    ])
    error_message = "the unit must write client-rack.env before every start (failure ignored) and pass $MIRRORLAKE_CLIENT_RACK_ARG (zero or one argument) to the aggregator"
  }

  assert {
    condition = alltrue([for s in [
      "X-aws-ec2-metadata-token-ttl-seconds",
      "/meta-data/placement/availability-zone-id",
      "MIRRORLAKE_CLIENT_RACK_ARG=--kafka-option=client.rack=%s",
      "exit 0\n",
      ] : strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/usr/local/sbin/mirrorlake-client-rack"]), s)
    ])
    error_message = "mirrorlake-client-rack must read the AZ ID (not the AZ name) with an IMDSv2 token, write --kafka-option=client.rack=<AZ ID>, and never fail"
  }

  assert {
    condition = (
      one([for f in yamldecode(output.user_data).write_files : f.permissions if f.path == "/usr/local/sbin/mirrorlake-client-rack"]) == "0755" &&
      !strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/mirrorlake/aggregator.toml"]), "client.rack")
    )
    error_message = "the script must be executable; client.rack is per instance, never in the shared aggregator.toml"
  }
}

run "rack_aware_fetching_off" {
  command = plan

  variables {
    rack_aware_fetching = false
  }

  assert {
    condition = (
      !strcontains(output.user_data, "client.rack") &&
      !strcontains(output.user_data, "client-rack") &&
      !strcontains(output.user_data, "MIRRORLAKE_CLIENT_RACK") &&
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/systemd/system/mirrorlake-aggregator.service"]), "\nExecStart=/usr/local/bin/mirrorlake-aggregator run --config /etc/mirrorlake/aggregator.toml\n")
    )
    error_message = "with rack_aware_fetching = false: no client.rack script, environment file or argument"
  }
}
