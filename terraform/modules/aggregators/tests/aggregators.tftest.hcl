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
      LakeListPrefix             = ["arn:aws:s3:::mltest-lake"]
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

  assert {
    condition     = toset(one([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Action if s.Sid == "MskConsumerGroup"])) == toset(["kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"])
    error_message = "group permissions expected"
  }
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

run "rejects_short_heartbeat" {
  command = plan

  variables {
    lifecycle_hook_heartbeat_timeout_seconds = 100
  }

  expect_failures = [aws_autoscaling_lifecycle_hook.drain]
}
