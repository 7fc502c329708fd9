# Issue 23 (6): the single-node fleet mode, deployed from the same modules. Offline plan of the
# collectors-only stack with a mocked AWS provider (no credentials, no network).
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
  mock_data "aws_vpc" {
    defaults = { cidr_block = "10.20.0.0/16", ipv6_cidr_block = "", cidr_block_associations = [] }
  }
  mock_data "aws_ssm_parameter" {
    defaults = { insecure_value = "ami-0123456789abcdef0" }
  }
  mock_data "aws_network_interfaces" {
    defaults = { ids = [] }
  }
  mock_data "aws_subnets" {
    defaults = { ids = [] }
  }
  mock_data "aws_subnet" {
    defaults = { cidr_block = "10.20.1.0/24", ipv6_cidr_block = "" }
  }
}

# A known lake key at plan time, to check the collectors' KMS grant names it.
override_resource {
  target          = module.lake.aws_kms_key.this
  override_during = plan
  values = {
    arn = "arn:aws:kms:ap-northeast-1:111122223333:key/0f0e0d0c-0b0a-0908-0706-050403020100"
  }
}

variables {
  name                 = "mltest"
  vpc_id               = "vpc-0123456789abcdef0"
  private_subnet_ids   = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
  source_eni_ids       = ["eni-0aaaaaaaaaaaaaaa1"]
  collector_binary_url = "https://artifacts.example.com/mirrorlake-collector-x86_64.tar.gz"
  alarm_emails         = ["oncall@example.com"]
}

run "collectors_write_the_lake" {
  command = plan

  assert {
    condition     = strcontains(module.collectors.user_data, "\n    lake = \"s3://mltest-lake-111122223333-ap-northeast-1/mirrorlake\"\n")
    error_message = "the collectors must write the lake module's bucket and prefix"
  }

  assert {
    condition     = strcontains(module.collectors.user_data, "\n    max_file_age_ms = 60000\n")
    error_message = "lake_file_max_age_seconds must reach the collectors' files.max_file_age_ms"
  }

  assert {
    condition     = alltrue([for s in ["[kafka", "brokers =", ":9098", "OAUTHBEARER"] : !strcontains(module.collectors.user_data, s)])
    error_message = "no Kafka settings anywhere in the collectors' user data"
  }

  assert {
    condition     = output.lake_url == "s3://mltest-lake-111122223333-ap-northeast-1/mirrorlake" && output.lake_bucket_name == "mltest-lake-111122223333-ap-northeast-1"
    error_message = "the lake URL output is the collectors' lake"
  }

  assert {
    condition     = toset(keys(module.mirror_sessions.session_ids)) == toset(var.source_eni_ids)
    error_message = "one mirror session per listed source ENI"
  }

  assert {
    condition     = module.lake.table_names == ["flows", "packets"] && output.athena_database == "mirrorlake"
    error_message = "the lake's tables are the same as in cluster mode"
  }
}

run "no_msk_and_no_aggregators" {
  command = plan

  assert {
    # The composition holds neither module: no MSK cluster, no aggregator fleet is planned.
    condition = alltrue([for f in fileset(path.module, "*.tf") :
    !strcontains(file("${path.module}/${f}"), "modules/msk\"") && !strcontains(file("${path.module}/${f}"), "modules/aggregators\"")])
    error_message = "the single-node example must not use the msk or aggregators modules"
  }

  assert {
    # Without msk_cluster_name the alarms module plans no consumer-lag alarm.
    condition     = length([for n in keys(module.alarms.alarm_arns) : n if strcontains(n, "consumer-lag")]) == 0
    error_message = "no consumer-lag alarm without MSK"
  }

  assert {
    condition     = length(module.alarms.alarm_arns) > 0 && anytrue([for n in keys(module.alarms.alarm_arns) : strcontains(n, "collector-packets-dropped")])
    error_message = "the NLB and collector-drop alarms stay"
  }
}

run "collectors_iam_is_the_lake_writer" {
  command = plan

  assert {
    condition     = [for s in jsondecode(module.collectors.iam_policy).Statement : s.Sid] == ["LakeWriteObjects", "LakeKmsViaS3", "CompleteOwnLifecycleAction"]
    error_message = "the collectors' policy: the lake writer's S3 actions, the lake key through S3, their lifecycle action; nothing else"
  }

  assert {
    condition = one([for s in jsondecode(module.collectors.iam_policy).Statement : s if s.Sid == "LakeWriteObjects"]) == {
      Sid      = "LakeWriteObjects"
      Effect   = "Allow"
      Action   = ["s3:PutObject", "s3:AbortMultipartUpload"]
      Resource = ["arn:aws:s3:::mltest-lake-111122223333-ap-northeast-1/mirrorlake/*"]
    }
    error_message = "PutObject and AbortMultipartUpload below the lake module's prefix only"
  }

  assert {
    condition = one([for s in jsondecode(module.collectors.iam_policy).Statement : s if s.Sid == "LakeKmsViaS3"]) == {
      Sid       = "LakeKmsViaS3"
      Effect    = "Allow"
      Action    = ["kms:GenerateDataKey", "kms:Decrypt"]
      Resource  = ["arn:aws:kms:ap-northeast-1:111122223333:key/0f0e0d0c-0b0a-0908-0706-050403020100"]
      Condition = { StringEquals = { "kms:ViaService" = "s3.ap-northeast-1.amazonaws.com" } }
    }
    error_message = "GenerateDataKey and Decrypt on the lake module's key, through S3 only"
  }

  assert {
    condition     = !strcontains(module.collectors.iam_policy, "kafka-cluster:") && module.collectors.kafka_topic_arn == null
    error_message = "no kafka-cluster action and no topic"
  }
}

# Issue 23 (4), as examples/complete's all_vpc_cidr_blocks: every block of the VPC (secondary IPv4
# associations, IPv6 blocks) is a mirror source, not only the primary CIDR; health checks come
# from the NLB's subnets only. (The mirror filter accepts 0.0.0.0/0 and ::/0: modules/mirror-sessions.)
run "all_vpc_cidr_blocks" {
  command = plan

  override_data {
    target = data.aws_vpc.this
    values = {
      cidr_block      = "10.20.0.0/16"
      ipv6_cidr_block = "2600:1f18:1234:5600::/56"
      cidr_block_associations = [
        { association_id = "vpc-cidr-assoc-1", cidr_block = "10.20.0.0/16", state = "associated" },
        { association_id = "vpc-cidr-assoc-2", cidr_block = "100.64.0.0/16", state = "associated" },
        { association_id = "vpc-cidr-assoc-3", cidr_block = "10.99.0.0/16", state = "disassociated" },
      ]
    }
  }

  override_data {
    target = data.aws_subnets.vpc
    values = { ids = ["subnet-0123456789abcdef0", "subnet-0aaaaaaaaaaaaaaa9"] }
  }

  override_data {
    target = data.aws_subnet.vpc["subnet-0aaaaaaaaaaaaaaa9"]
    values = { cidr_block = "100.64.0.0/24", ipv6_cidr_block = "2600:1f18:abcd:ef00::/64" }
  }

  override_data {
    target = data.aws_subnet.private["subnet-0123456789abcdef1"]
    values = { cidr_block = "10.20.2.0/24" }
  }

  assert {
    condition = module.collectors.ingress_cidr_blocks.vxlan == sort([
      "10.20.0.0/16", "100.64.0.0/16", "2600:1f18:1234:5600::/56", "2600:1f18:abcd:ef00::/64",
    ])
    error_message = "UDP 4789 must be open from every associated IPv4 block and every IPv6 block of the VPC (got ${jsonencode(module.collectors.ingress_cidr_blocks.vxlan)})"
  }

  assert {
    condition     = module.collectors.ingress_cidr_blocks.health == tolist(["10.20.1.0/24", "10.20.2.0/24"])
    error_message = "the health port must be open from the NLB's subnets only (got ${jsonencode(module.collectors.ingress_cidr_blocks.health)})"
  }

  assert {
    condition     = length(module.collectors.ingress_cidr_blocks.metrics) == 0
    error_message = "without monitoring_cidr_blocks, /metrics is reachable from no other network"
  }
}

# Issue 23 (8): the collectors' drain_ms is the NLB target group's deregistration delay.
run "drain_ms_is_the_deregistration_delay" {
  command = plan

  assert {
    condition = (
      module.mirror_target.deregistration_delay_seconds == 120 &&
      strcontains(one([for f in yamldecode(module.collectors.user_data).write_files : f.content if f.path == "/etc/mirrorlake/collector.toml"]), "\ndrain_ms = ${module.mirror_target.deregistration_delay_seconds * 1000}\n")
    )
    error_message = "the collectors' drain_ms must be the NLB target group's deregistration delay in milliseconds"
  }
}
