# Issue 23 (6): the single-node fleet mode. Offline plan-time tests with a mocked AWS provider (no
# credentials, no network). mode = "single_node": no MSK, no aggregators; every collector writes
# its own Parquet files to the lake on S3. Cluster mode is pinned by collectors.tftest.hcl.
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
  mode                      = "single_node"
  name                      = "mltest"
  vpc_id                    = "vpc-0123456789abcdef0"
  subnet_ids                = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
  target_group_arns         = ["arn:aws:elasticloadbalancing:ap-northeast-1:111122223333:targetgroup/mltest-vxlan/0123456789abcdef"]
  mirror_source_cidr_blocks = ["10.0.0.0/16"]
  health_check_cidr_blocks  = ["10.20.0.0/16"]
  lake_bucket_name          = "mltest-lake-111122223333-ap-northeast-1"
  lake_prefix               = "mirrorlake"
  lake_kms_key_arn          = "arn:aws:kms:ap-northeast-1:111122223333:key/0f0e0d0c-0b0a-0908-0706-050403020100"
  collector_binary_url      = "https://artifacts.example.com/mirrorlake-collector-x86_64.tar.gz"
}

run "single_node_config_writes_the_lake" {
  command = plan

  assert {
    condition     = one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/mirrorlake/collector.toml"]) == <<-EOT
      # /etc/mirrorlake/collector.toml: rendered by terraform/modules/collectors
      # (mode = "single_node"). Keys are the collector's config (README,
      # "Configuration"; unknown keys are errors). No Kafka settings: the collector
      # writes the lake itself.
      # var.collector_config_toml replaces the whole file.

      listen = "0.0.0.0:4789"
      http = "0.0.0.0:9090"
      rcvbuf_bytes = 67108864
      # On SIGTERM /healthz says 503 and the collector keeps receiving this long: the
      # target group's deregistration delay (deregistration_delay_seconds), so flows the
      # NLB still sends while it drains the target are received, not refused. Then it
      # closes (uploads) every open file.
      drain_ms = 120000

      # Single-node mode: this collector writes its own Parquet files (multipart
      # uploads, named <host>-<start>-<seq>.parquet) under <prefix>/packets/ and
      # <prefix>/flows/, with the instance role's credentials, in the region in
      # AWS_REGION (set by the systemd unit).
      lake = "s3://mltest-lake-111122223333-ap-northeast-1/mirrorlake"

      [files]
      # A file is closed (and becomes visible) this long after it was opened.
      max_file_age_ms = 60000

      # The disk spool (README, "Configuration", spool.*): a batch the lake writer
      # cannot take now (S3 slow or unreachable: its uploads wait and are retried) is
      # written here instead of being dropped, and replayed in order when the writer
      # catches up; /healthz stays 200 meanwhile. Beyond max_bytes (spool_max_bytes)
      # batches are dropped and counted (reason="spool_full"). What is still spooled
      # at a stop stays for the next start. /var/lib/mirrorlake is the unit's
      # StateDirectory.
      [spool]
      dir = "/var/lib/mirrorlake/spool"
      max_bytes = 21474836480
    EOT
    error_message = "single-node collector.toml must name the S3 lake (bucket/prefix), the file age, the drain and the disk spool, and nothing of Kafka"
  }

  assert {
    condition = alltrue([for s in ["[kafka", "brokers", "topic", "9098", "sasl", "OAUTHBEARER"] :
    !strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/mirrorlake/collector.toml"]), s)])
    error_message = "no Kafka settings in single-node mode (kafka.brokers set would make the collector publish to Kafka)"
  }

  assert {
    condition = (
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/systemd/system/mirrorlake-collector.service"]), "\nExecStart=/usr/local/bin/mirrorlake-collector run --config /etc/mirrorlake/collector.toml\n") &&
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/systemd/system/mirrorlake-collector.service"]), "\nDescription=mirrorlake collector: VXLAN mirror traffic to the Parquet lake on S3\n") &&
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/systemd/system/mirrorlake-collector.service"]), "\nEnvironment=AWS_REGION=ap-northeast-1\n") &&
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/systemd/system/mirrorlake-collector.service"]), "\nEnvironment=AWS_CHECKSUM_ALGORITHM=SHA256\n") &&
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/systemd/system/mirrorlake-collector.service"]), "\nTimeoutStopSec=180\n") &&
      !strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/systemd/system/mirrorlake-collector.service"]), "Kafka") &&
      !strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/systemd/system/mirrorlake-collector.service"]), "MSK") &&
      !strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/systemd/system/mirrorlake-collector.service"]), "single_node")
    )
    error_message = "the single-node unit runs the collector with its config (the lake URL), AWS_REGION for S3, checksummed uploads (Object Lock), and says nothing of Kafka"
  }
}

# The disk spool serves single-node mode too (what the lake writer cannot take while S3 is slow or
# away): collector.toml's [spool] on the root volume, bounded by spool_max_bytes; the unit makes
# /var/lib/mirrorlake writable (StateDirectory) under ProtectSystem=strict, or the collector could
# not open its spool.
run "single_node_spools_to_disk" {
  command = plan

  assert {
    condition     = endswith(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/mirrorlake/collector.toml"]), "\n[spool]\ndir = \"/var/lib/mirrorlake/spool\"\nmax_bytes = 21474836480\n")
    error_message = "the single-node collector.toml must end with a [spool] in /var/lib/mirrorlake/spool bounded by the default spool_max_bytes (20 GiB)"
  }

  assert {
    condition = (
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/systemd/system/mirrorlake-collector.service"]), "\nProtectSystem=strict\n") &&
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/systemd/system/mirrorlake-collector.service"]), "\nStateDirectory=mirrorlake\n") &&
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/systemd/system/mirrorlake-collector.service"]), "\nStateDirectoryMode=0700\n")
    )
    error_message = "the single-node unit must make /var/lib/mirrorlake (the spool's parent) writable with StateDirectory"
  }
}

run "single_node_spool_max_bytes_reaches_the_config" {
  command = plan

  variables {
    spool_max_bytes     = 107374182400 # 100 GiB
    root_volume_size_gb = 108
  }

  assert {
    condition     = strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/mirrorlake/collector.toml"]), "\n[spool]\ndir = \"/var/lib/mirrorlake/spool\"\nmax_bytes = 107374182400\n")
    error_message = "spool_max_bytes must reach spool.max_bytes in single-node mode"
  }

  assert {
    condition     = module.fleet.launch_template.block_device_mappings[0].ebs[0].volume_size == 108
    error_message = "root_volume_size_gb must reach the launch template"
  }
}

# The spool is on the root volume in single-node mode too: a 100 GiB spool on a 20 GiB volume
# would fill the disk first.
run "rejects_single_node_root_volume_smaller_than_the_spool" {
  command = plan

  variables {
    spool_max_bytes     = 107374182400
    root_volume_size_gb = 20
  }

  expect_failures = [aws_security_group.this]
}

# collector_config_toml replaces the rendered config, [spool] included: its spool (if any) is the
# caller's, so the root volume check does not apply.
run "single_node_own_config_skips_the_spool_check" {
  command = plan

  variables {
    collector_config_toml = "lake = \"s3://mltest-lake-111122223333-ap-northeast-1/mirrorlake\"\n"
    spool_max_bytes       = 107374182400
    root_volume_size_gb   = 20
  }

  assert {
    condition     = module.fleet.launch_template.block_device_mappings[0].ebs[0].volume_size == 20
    error_message = "with collector_config_toml the root volume is not checked against spool_max_bytes"
  }
}

run "single_node_file_age" {
  command = plan

  variables {
    lake_file_max_age_seconds = 300
  }

  assert {
    condition     = strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/mirrorlake/collector.toml"]), "\n[files]\n# A file is closed (and becomes visible) this long after it was opened.\nmax_file_age_ms = 300000\n")
    error_message = "lake_file_max_age_seconds must reach files.max_file_age_ms"
  }
}

run "single_node_iam_writes_the_lake_prefix_only" {
  command = plan

  assert {
    # Exactly these statements: the lake writer's S3 actions, the lake key through S3, and the
    # fleet's own lifecycle action; nothing of Kafka.
    condition     = [for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Sid] == ["LakeWriteObjects", "LakeKmsViaS3", "CompleteOwnLifecycleAction"]
    error_message = "single-node IAM: LakeWriteObjects, LakeKmsViaS3 and the fleet's lifecycle statement, nothing else"
  }

  assert {
    condition = one([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s if s.Sid == "LakeWriteObjects"]) == {
      Sid      = "LakeWriteObjects"
      Effect   = "Allow"
      Action   = ["s3:PutObject", "s3:AbortMultipartUpload"]
      Resource = ["arn:aws:s3:::mltest-lake-111122223333-ap-northeast-1/mirrorlake/*"]
    }
    error_message = "PutObject (single and multipart uploads) and AbortMultipartUpload below the lake prefix only: the writer never reads, lists or deletes"
  }

  assert {
    condition = one([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s if s.Sid == "LakeKmsViaS3"]) == {
      Sid       = "LakeKmsViaS3"
      Effect    = "Allow"
      Action    = ["kms:GenerateDataKey", "kms:Decrypt"]
      Resource  = ["arn:aws:kms:ap-northeast-1:111122223333:key/0f0e0d0c-0b0a-0908-0706-050403020100"]
      Condition = { StringEquals = { "kms:ViaService" = "s3.ap-northeast-1.amazonaws.com" } }
    }
    error_message = "the lake key: GenerateDataKey and Decrypt (multipart parts), through S3 only"
  }

  assert {
    condition = alltrue(flatten([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : [
      for a in flatten([s.Action]) : !startswith(a, "kafka-cluster:") && a != "s3:DeleteObject" && a != "s3:GetObject" && a != "s3:ListBucket" && a != "s3:*" && a != "*"
    ]]))
    error_message = "no kafka-cluster action, no read/list/delete of the lake, no wildcard action"
  }

  assert {
    condition     = alltrue([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : alltrue([for r in s.Resource : r != "*"])])
    error_message = "no statement may use Resource *"
  }

  assert {
    condition     = output.kafka_topic_arn == null
    error_message = "no Kafka topic in single-node mode"
  }
}

run "single_node_without_kms_key" {
  command = plan

  variables {
    lake_kms_key_arn = null
  }

  assert {
    condition     = [for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Sid] == ["LakeWriteObjects", "CompleteOwnLifecycleAction"]
    error_message = "without an SSE-KMS key, no KMS statement"
  }
}

run "single_node_no_kafka_egress" {
  command = plan

  variables {
    # Ignored in single-node mode, even when set.
    kafka_cidr_blocks        = ["10.20.0.0/16"]
    kafka_security_group_ids = ["sg-0123456789abcdef0"]
  }

  assert {
    condition     = length(aws_vpc_security_group_egress_rule.kafka_cidr) == 0 && length(aws_vpc_security_group_egress_rule.kafka_sg) == 0
    error_message = "no egress to MSK in single-node mode"
  }

  assert {
    condition     = aws_vpc_security_group_egress_rule.https.from_port == 443 && aws_vpc_security_group_egress_rule.https.to_port == 443
    error_message = "HTTPS egress (S3, the AWS APIs) stays"
  }

  assert {
    condition = alltrue([for s in ["brokers", "[kafka"] :
    !strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/mirrorlake/collector.toml"]), s)])
    error_message = "Kafka variables must not leak into the single-node config"
  }
}

run "single_node_keeps_the_fleet" {
  command = plan

  assert {
    condition = (
      toset(module.fleet.autoscaling_group.target_group_arns) == toset(var.target_group_arns) &&
      module.fleet.autoscaling_group.health_check_type == "EC2" &&
      module.fleet.lifecycle_hook.name == "mltest-collector-drain" &&
      aws_vpc_security_group_ingress_rule.vxlan["10.0.0.0/16"].from_port == 4789
    )
    error_message = "the NLB registration, EC2 health checks, the drain hook and the VXLAN rule are the same in both modes"
  }
}

run "rejects_single_node_without_lake" {
  command = plan

  variables {
    lake_bucket_name = null
  }

  expect_failures = [aws_security_group.this]
}

run "rejects_cluster_without_msk" {
  command = plan

  variables {
    mode = "cluster"
  }

  # No kafka_bootstrap_brokers, msk_cluster_arn or MSK egress: the plan fails, not the collectors.
  expect_failures = [aws_security_group.this]
}

run "rejects_unknown_mode" {
  command = plan

  variables {
    mode = "standalone"
  }

  expect_failures = [var.mode]
}
