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
    condition     = toset(aws_autoscaling_group.this.target_group_arns) == toset(var.target_group_arns)
    error_message = "the ASG must be attached to the NLB target group"
  }

  assert {
    condition     = aws_autoscaling_group.this.health_check_type == "ELB"
    error_message = "the ASG must replace collectors that fail the NLB health check"
  }

  assert {
    condition = (
      aws_autoscaling_lifecycle_hook.drain.lifecycle_transition == "autoscaling:EC2_INSTANCE_TERMINATING" &&
      aws_autoscaling_lifecycle_hook.drain.heartbeat_timeout >= 120 + 120 &&
      aws_autoscaling_lifecycle_hook.drain.default_result == "CONTINUE"
    )
    error_message = "a termination lifecycle hook long enough to drain and flush is required"
  }

  assert {
    condition     = aws_launch_template.this.metadata_options[0].http_tokens == "required"
    error_message = "IMDSv2 must be required"
  }

  assert {
    condition     = aws_launch_template.this.block_device_mappings[0].ebs[0].encrypted == "true"
    error_message = "root volume must be encrypted"
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

run "user_data_installs_and_starts_the_collector" {
  command = plan

  assert {
    condition     = startswith(output.user_data, "#cloud-config\n")
    error_message = "user data must be cloud-init"
  }

  assert {
    condition     = strcontains(base64decode(aws_launch_template.this.user_data), "ExecStart=/usr/local/bin/mirrorlake-collector run --config /etc/mirrorlake/collector.toml")
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
    condition     = strcontains(output.user_data, "net.core.rmem_max = 67108864")
    error_message = "rmem_max must be raised to the requested socket buffer"
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
    condition     = toset(keys(aws_iam_role_policy_attachment.managed)) == toset(["AmazonSSMManagedInstanceCore", "CloudWatchAgentServerPolicy"])
    error_message = "SSM core and CloudWatch agent policies expected"
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
    collector_binary_s3_uri = "s3://mltest-artifacts/collector/mirrorlake-collector"
  }

  expect_failures = [aws_launch_template.this]
}

run "rejects_short_heartbeat" {
  command = plan

  variables {
    lifecycle_hook_heartbeat_timeout_seconds = 120
  }

  expect_failures = [aws_autoscaling_lifecycle_hook.drain]
}
