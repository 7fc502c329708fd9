# Offline plan-time tests with a mocked AWS provider (no credentials, no network).
# The collectors and aggregators tests check their own wiring through this module's outputs; the
# resources themselves and their preconditions are checked here.
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
  name                                     = "mltest"
  role                                     = "collector"
  subnet_ids                               = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
  security_group_ids                       = ["sg-0123456789abcdef0", "sg-0123456789abcdef1"]
  instance_type                            = "c6in.large"
  min_size                                 = 2
  max_size                                 = 6
  target_group_arns                        = ["arn:aws:elasticloadbalancing:ap-northeast-1:111122223333:targetgroup/mltest-vxlan/0123456789abcdef"]
  health_check_type                        = "ELB"
  binary_url                               = "https://artifacts.example.com/mirrorlake-collector-x86_64.tar.gz"
  config_toml                              = "listen = \"0.0.0.0:4789\"\n"
  service_unit                             = "[Service]\nExecStart=/usr/local/bin/mirrorlake-collector run --config /etc/mirrorlake/collector.toml\nTimeoutStopSec=120\n"
  tag_network_interfaces                   = true
  deregistration_delay_seconds             = 120
  drain_timeout_seconds                    = 120
  lifecycle_hook_heartbeat_timeout_seconds = 300
  tags                                     = { team = "net" }
}

run "names_follow_the_role" {
  command = plan

  assert {
    condition = (
      aws_autoscaling_group.this.name == "mltest-collectors" &&
      aws_autoscaling_lifecycle_hook.drain.name == "mltest-collector-drain" &&
      aws_launch_template.this.name_prefix == "mltest-collector-" &&
      aws_launch_template.this.description == "mirrorlake collector" &&
      aws_iam_role.this.name_prefix == "mltest-collector-" &&
      aws_iam_role.this.description == "mirrorlake collector instances" &&
      aws_iam_instance_profile.this.name_prefix == "mltest-collector-"
    )
    error_message = "resource names must be <name>-<role>... as before the fleet module existed"
  }

  assert {
    condition     = output.autoscaling_group_name == "mltest-collectors" && output.lifecycle_hook_name == "mltest-collector-drain"
    error_message = "outputs must name the group and the hook"
  }
}

run "launch_template" {
  command = plan

  assert {
    condition = (
      aws_launch_template.this.image_id == "ami-0123456789abcdef0" &&
      aws_launch_template.this.instance_type == "c6in.large" &&
      aws_launch_template.this.ebs_optimized == "true" &&
      aws_launch_template.this.update_default_version == true &&
      aws_launch_template.this.vpc_security_group_ids == toset(var.security_group_ids)
    )
    error_message = "AMI from SSM, instance type, EBS optimisation and security groups expected"
  }

  assert {
    condition = (
      aws_launch_template.this.metadata_options[0].http_tokens == "required" &&
      aws_launch_template.this.metadata_options[0].http_endpoint == "enabled" &&
      aws_launch_template.this.metadata_options[0].http_put_response_hop_limit == 1
    )
    error_message = "IMDSv2 must be required, hop limit 1"
  }

  assert {
    condition     = aws_launch_template.this.monitoring[0].enabled == true
    error_message = "detailed monitoring is on by default"
  }

  assert {
    condition = (
      aws_launch_template.this.block_device_mappings[0].device_name == "/dev/xvda" &&
      aws_launch_template.this.block_device_mappings[0].ebs[0].encrypted == "true" &&
      aws_launch_template.this.block_device_mappings[0].ebs[0].volume_type == "gp3" &&
      aws_launch_template.this.block_device_mappings[0].ebs[0].volume_size == 20 &&
      aws_launch_template.this.block_device_mappings[0].ebs[0].delete_on_termination == "true"
    )
    error_message = "root volume must be encrypted gp3, deleted with the instance"
  }

  assert {
    condition = {
      for t in aws_launch_template.this.tag_specifications : t.resource_type => t.tags
      } == {
      instance          = tomap({ team = "net", Name = "mltest-collector", "mirrorlake:role" = "collector" })
      volume            = tomap({ team = "net", Name = "mltest-collector" })
      network-interface = tomap({ team = "net", Name = "mltest-collector", "mirrorlake:role" = "collector" })
    }
    error_message = "instances and ENIs must carry mirrorlake:role (never mirror a collector), volumes a Name"
  }

  assert {
    condition     = base64decode(aws_launch_template.this.user_data) == output.user_data
    error_message = "the launch template must carry the rendered user data"
  }
}

run "auto_scaling_group" {
  command = plan

  assert {
    condition = (
      aws_autoscaling_group.this.min_size == 2 &&
      aws_autoscaling_group.this.max_size == 6 &&
      aws_autoscaling_group.this.desired_capacity == 2 &&
      toset(aws_autoscaling_group.this.vpc_zone_identifier) == toset(var.subnet_ids) &&
      toset(aws_autoscaling_group.this.target_group_arns) == toset(var.target_group_arns) &&
      aws_autoscaling_group.this.health_check_type == "ELB" &&
      aws_autoscaling_group.this.health_check_grace_period == 300 &&
      aws_autoscaling_group.this.wait_for_capacity_timeout == "15m"
    )
    error_message = "sizes, subnets, target groups and health checks must be passed through"
  }

  assert {
    condition = (
      aws_autoscaling_group.this.instance_refresh[0].strategy == "Rolling" &&
      aws_autoscaling_group.this.instance_refresh[0].preferences[0].min_healthy_percentage == 50
    )
    error_message = "a new launch template version must roll the fleet"
  }

  assert {
    condition     = tomap({ for t in aws_autoscaling_group.this.tag : t.key => t.value if t.propagate_at_launch }) == tomap({ team = "net", Name = "mltest-collector" })
    error_message = "tags and the Name tag must propagate to instances"
  }
}

run "lifecycle_hook_and_role" {
  command = plan

  assert {
    condition = (
      aws_autoscaling_lifecycle_hook.drain.autoscaling_group_name == "mltest-collectors" &&
      aws_autoscaling_lifecycle_hook.drain.lifecycle_transition == "autoscaling:EC2_INSTANCE_TERMINATING" &&
      aws_autoscaling_lifecycle_hook.drain.heartbeat_timeout == 300 &&
      aws_autoscaling_lifecycle_hook.drain.default_result == "CONTINUE"
    )
    error_message = "a termination lifecycle hook that continues when the instance never reports back is required"
  }

  assert {
    condition     = output.iam_managed_policy_arns == ["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore", "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"]
    error_message = "the managed policy output must list the attachments"
  }

  assert {
    condition     = jsondecode(aws_iam_role.this.assume_role_policy).Statement[0].Principal.Service == "ec2.amazonaws.com"
    error_message = "only EC2 may assume the instance role"
  }

  assert {
    condition = (
      toset(keys(aws_iam_role_policy_attachment.managed)) == toset(["AmazonSSMManagedInstanceCore", "CloudWatchAgentServerPolicy"]) &&
      aws_iam_role_policy_attachment.managed["CloudWatchAgentServerPolicy"].policy_arn == "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"
    )
    error_message = "SSM core and CloudWatch agent policies expected"
  }

  assert {
    condition = output.instance_policy_statements == [{
      Sid      = "CompleteOwnLifecycleAction"
      Effect   = "Allow"
      Action   = ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"]
      Resource = ["arn:aws:autoscaling:ap-northeast-1:111122223333:autoScalingGroup:*:autoScalingGroupName/mltest-collectors"]
    }]
    error_message = "the instances may complete lifecycle actions of their own group only"
  }
}

run "user_data" {
  command = plan

  assert {
    condition     = startswith(output.user_data, "#cloud-config\n")
    error_message = "user data must be cloud-init"
  }

  assert {
    condition = [for f in yamldecode(output.user_data).write_files : f.path] == [
      "/etc/mirrorlake/collector.toml",
      "/etc/systemd/system/mirrorlake-collector.service",
      "/usr/local/sbin/mirrorlake-install-binary",
      "/usr/local/sbin/mirrorlake-lifecycle-watch",
      "/etc/systemd/system/mirrorlake-lifecycle-watch.service",
      "/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json",
    ]
    error_message = "config, unit, installer, lifecycle watcher and agent config expected, in this order"
  }

  assert {
    condition = yamldecode(output.user_data).runcmd == [
      ["/usr/local/sbin/mirrorlake-install-binary", var.binary_url, "/usr/local/bin/mirrorlake-collector", "mirrorlake-collector", "-", "ap-northeast-1"],
      ["systemctl", "daemon-reload"],
      ["systemctl", "enable", "--now", "mirrorlake-collector.service", "mirrorlake-lifecycle-watch.service"],
      ["/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl", "-a", "fetch-config", "-m", "ec2", "-s", "-c", "file:/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json"],
    ]
    error_message = "install the binary, start the service and the watcher, then the agent"
  }

  assert {
    condition = alltrue([
      for s in [
        "--auto-scaling-group-name \"mltest-collectors\" --lifecycle-hook-name \"mltest-collector-drain\"",
        "sleep 120\nsystemctl stop mirrorlake-collector.service",
        "# 2. Wait out the NLB deregistration delay",
      ] : strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/usr/local/sbin/mirrorlake-lifecycle-watch"]), s)
    ])
    error_message = "the watcher must wait out the deregistration delay, stop the service and complete this group's hook"
  }

  assert {
    condition = jsondecode(one([for f in yamldecode(output.user_data).write_files : f.content if endswith(f.path, "amazon-cloudwatch-agent.json")])) == {
      agent = { metrics_collection_interval = 60 }
      metrics = {
        namespace              = "mirrorlake"
        append_dimensions      = { AutoScalingGroupName = "$${aws:AutoScalingGroupName}", InstanceId = "$${aws:InstanceId}" }
        aggregation_dimensions = [["AutoScalingGroupName"]]
        metrics_collected = {
          mem  = { measurement = ["mem_used_percent"] }
          disk = { measurement = ["used_percent"], resources = ["/"] }
        }
      }
    }
    error_message = "the agent collects memory and root disk usage into namespace mirrorlake, and nothing else by default"
  }
}

run "extras_and_s3_binary" {
  command = plan

  variables {
    role                         = "aggregator"
    target_group_arns            = []
    health_check_type            = "EC2"
    tag_network_interfaces       = false
    deregistration_delay_seconds = 0
    binary_url                   = null
    binary_s3_uri                = "s3://mltest-artifacts/aggregator/mirrorlake-aggregator"
    binary_sha256                = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    extra_files                  = [{ path = "/etc/sysctl.d/90-test.conf", permissions = "0644", content = "x = 1\n" }]
    setup_commands               = [["sysctl", "--system"]]
    cloudwatch_metrics_collected = { ethtool = { metrics_include = ["pps_allowance_exceeded"] } }
    cloudwatch_logs              = { metrics_collected = { prometheus = { log_group_name = "x" } } }
  }

  assert {
    condition     = aws_autoscaling_group.this.health_check_type == "EC2"
    error_message = "EC2 health checks without a load balancer"
  }

  assert {
    condition     = [for t in aws_launch_template.this.tag_specifications : t.resource_type] == ["instance", "volume"]
    error_message = "ENIs are tagged only when asked"
  }

  assert {
    condition = [for f in yamldecode(output.user_data).write_files : f.path] == [
      "/etc/mirrorlake/aggregator.toml",
      "/etc/systemd/system/mirrorlake-aggregator.service",
      "/usr/local/sbin/mirrorlake-install-binary",
      "/usr/local/sbin/mirrorlake-lifecycle-watch",
      "/etc/systemd/system/mirrorlake-lifecycle-watch.service",
      "/etc/sysctl.d/90-test.conf",
      "/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json",
    ]
    error_message = "extra files go after the service's own files, before the agent config"
  }

  assert {
    condition = (
      yamldecode(output.user_data).runcmd[0] == ["sysctl", "--system"] &&
      yamldecode(output.user_data).runcmd[1] == ["/usr/local/sbin/mirrorlake-install-binary", var.binary_s3_uri, "/usr/local/bin/mirrorlake-aggregator", "mirrorlake-aggregator", var.binary_sha256, "ap-northeast-1"]
    )
    error_message = "setup commands run first; the installer gets the S3 URI and the checksum"
  }

  assert {
    condition = (
      jsondecode(one([for f in yamldecode(output.user_data).write_files : f.content if endswith(f.path, "amazon-cloudwatch-agent.json")])).metrics.metrics_collected.ethtool.metrics_include == ["pps_allowance_exceeded"] &&
      jsondecode(one([for f in yamldecode(output.user_data).write_files : f.content if endswith(f.path, "amazon-cloudwatch-agent.json")])).logs.metrics_collected.prometheus.log_group_name == "x"
    )
    error_message = "extra agent metrics and the logs section must reach the agent config"
  }

  assert {
    condition     = strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/usr/local/sbin/mirrorlake-lifecycle-watch"]), "# 2. Wait out the load balancer deregistration delay, if any")
    error_message = "without a load balancer the watcher does not talk about the NLB"
  }

  assert {
    condition = output.instance_policy_statements[1] == {
      Sid      = "DownloadAggregatorBinary"
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = ["arn:aws:s3:::mltest-artifacts/aggregator/mirrorlake-aggregator"]
    }
    error_message = "the role must be able to fetch exactly the binary object"
  }
}

run "rejects_arch_mismatch" {
  command = plan

  variables {
    instance_type = "c7gn.large"
  }

  expect_failures = [aws_launch_template.this]
}

run "rejects_two_binary_sources" {
  command = plan

  variables {
    binary_s3_uri = "s3://mltest-artifacts/collector/mirrorlake-collector"
  }

  expect_failures = [aws_launch_template.this]
}

run "rejects_no_binary_source" {
  command = plan

  variables {
    binary_url = null
  }

  expect_failures = [aws_launch_template.this]
}

run "rejects_oversized_user_data" {
  command = plan

  variables {
    config_toml = join("\n", [for i in range(600) : "# padding line ${i} of a config that is far too long"])
  }

  expect_failures = [aws_launch_template.this]
}

run "rejects_unit_that_outlives_the_drain_timeout" {
  command = plan

  variables {
    drain_timeout_seconds = 100
  }

  expect_failures = [aws_launch_template.this]
}

run "rejects_min_above_max" {
  command = plan

  variables {
    min_size = 7
  }

  expect_failures = [aws_autoscaling_group.this]
}

run "rejects_short_heartbeat" {
  command = plan

  # 120 s deregistration + 120 s drain + 30 s = 270 s needed.
  variables {
    lifecycle_hook_heartbeat_timeout_seconds = 269
  }

  expect_failures = [aws_autoscaling_lifecycle_hook.drain]
}

run "rejects_unknown_role" {
  command = plan

  variables {
    role = "exporter"
  }

  expect_failures = [var.role]
}

run "rejects_short_heartbeat_without_load_balancer" {
  command = plan

  # The aggregators' numbers: no deregistration delay, 300 s drain + 30 s = 330 s needed.
  variables {
    role                                     = "aggregator"
    target_group_arns                        = []
    deregistration_delay_seconds             = 0
    drain_timeout_seconds                    = 300
    service_unit                             = "[Service]\nTimeoutStopSec=300\n"
    lifecycle_hook_heartbeat_timeout_seconds = 329
  }

  expect_failures = [aws_autoscaling_lifecycle_hook.drain]
}
