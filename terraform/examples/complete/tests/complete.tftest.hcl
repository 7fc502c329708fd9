# Offline plan of the whole stack with a mocked AWS provider (no credentials, no network).
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

# Known values at plan time for the attributes the other modules are configured from.
override_resource {
  target          = module.msk.aws_msk_cluster.this
  override_during = plan
  values = {
    arn                        = "arn:aws:kafka:ap-northeast-1:111122223333:cluster/mltest/0f0e0d0c-0b0a-0908-0706-050403020100-1"
    bootstrap_brokers_sasl_iam = "b-1.mltest.kafka.ap-northeast-1.amazonaws.com:9098,b-2.mltest.kafka.ap-northeast-1.amazonaws.com:9098"
  }
}

variables {
  name                  = "mltest"
  vpc_id                = "vpc-0123456789abcdef0"
  private_subnet_ids    = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1", "subnet-0123456789abcdef2"]
  source_eni_ids        = ["eni-0aaaaaaaaaaaaaaa1", "eni-0aaaaaaaaaaaaaaa2"]
  collector_binary_url  = "https://artifacts.example.com/mirrorlake-collector-x86_64.tar.gz"
  aggregator_binary_url = "https://artifacts.example.com/mirrorlake-aggregator-x86_64.tar.gz"
  alarm_emails          = ["oncall@example.com"]
}

run "whole_stack_plans" {
  command = plan

  assert {
    condition     = module.mirror_target.vxlan_port == 4789 && module.mirror_target.health_check_port == 9090
    error_message = "the mirror target listens on UDP 4789 and health-checks 9090"
  }

  assert {
    condition     = toset(keys(module.mirror_sessions.session_ids)) == toset(var.source_eni_ids)
    error_message = "one mirror session per listed source ENI"
  }

  assert {
    condition     = module.lake.table_names == ["flows", "packets"] && output.athena_database == "mirrorlake"
    error_message = "the packets table is created in the mirrorlake database"
  }

  assert {
    condition     = output.lake_table_locations["packets"] == "s3://mltest-lake-111122223333-ap-northeast-1/mirrorlake/packets/"
    error_message = "the packets table lives under <prefix>/packets/"
  }

  assert {
    condition     = strcontains(module.collectors.user_data, "b-1.mltest.kafka.ap-northeast-1.amazonaws.com:9098,b-2.mltest.kafka.ap-northeast-1.amazonaws.com:9098") && strcontains(module.aggregators.user_data, "lake = \"s3://mltest-lake-111122223333-ap-northeast-1/")
    error_message = "collectors and aggregators must be configured from the MSK and lake modules"
  }

  assert {
    condition = alltrue([for ud in [module.collectors.user_data, module.aggregators.user_data] : (
      strcontains(ud, "brokers = \"b-1.mltest.kafka.ap-northeast-1.amazonaws.com:9098,b-2.mltest.kafka.ap-northeast-1.amazonaws.com:9098\"") &&
      strcontains(ud, "\"security.protocol\" = \"SASL_SSL\"\n") &&
      strcontains(ud, "\"sasl.mechanism\" = \"OAUTHBEARER\"\n") &&
      strcontains(ud, "Environment=AWS_REGION=ap-northeast-1\n")
    )])
    error_message = "collectors and aggregators must reach MSK's IAM brokers with MSK IAM (SASL_SSL + OAUTHBEARER) and know the region"
  }

  assert {
    condition     = strcontains(module.msk.create_topic_command, "--topic mirrorlake.packets") && strcontains(module.msk.create_topic_command, "--config max.message.bytes=2097152")
    error_message = "topic command must carry the documented settings"
  }

  assert {
    condition     = module.collectors.kafka_topic_arn == "arn:aws:kafka:ap-northeast-1:111122223333:topic/mltest/0f0e0d0c-0b0a-0908-0706-050403020100-1/mirrorlake.packets"
    error_message = "collectors may write only to the packets topic of this cluster"
  }

  assert {
    condition = (
      contains(keys(module.alarms.alarm_arns), "mltest-collector-packets-dropped") &&
      contains(keys(module.alarms.alarm_arns), "mltest-collector-kernel-drops") &&
      module.collectors.cloudwatch_dimensions == { AutoScalingGroupName = "mltest-collectors" } &&
      strcontains(module.collectors.user_data, "mirrorlake_kernel_drops_total|mirrorlake_packets_dropped_total")
    )
    error_message = "the collectors must publish their drop counters and both drop alarms must exist"
  }

  assert {
    condition     = module.aggregators.kafka_group_arn == "arn:aws:kafka:ap-northeast-1:111122223333:group/mltest/0f0e0d0c-0b0a-0908-0706-050403020100-1/mirrorlake-aggregator"
    error_message = "aggregators may use only their consumer group"
  }
}

# Issue 23 (4): every block of the VPC (secondary IPv4 associations, IPv6 blocks) is a mirror
# source, not only the primary CIDR; health checks come from the NLB's subnets only.
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

run "collector_eni_as_source_fails" {
  command = plan

  # A collector ENI (tagged mirrorlake:role=collector) that someone listed as a source.
  override_data {
    target = data.aws_network_interfaces.collectors
    values = {
      ids = ["eni-0ccccccccccccccc1"]
    }
  }

  variables {
    source_eni_ids = ["eni-0aaaaaaaaaaaaaaa1", "eni-0ccccccccccccccc1"]
  }

  expect_failures = [data.aws_network_interfaces.collectors]
}

run "enrollment_off_by_default" {
  command = plan

  assert {
    condition     = length(module.enrollment) == 0
    error_message = "no enrollment function without a zip"
  }
}

run "enrollment_wired" {
  command = plan

  override_resource {
    target          = module.mirror_target.aws_ec2_traffic_mirror_target.this
    override_during = plan
    values          = { id = "tmt-0123456789abcdef0" }
  }

  override_resource {
    target          = module.mirror_sessions.aws_ec2_traffic_mirror_filter.this
    override_during = plan
    values          = { id = "tmf-0123456789abcdef0" }
  }

  variables {
    enrollment_lambda_zip_path = "../../modules/enrollment/tests/fixtures/enroll.zip"
    virtual_network_id         = 4242
  }

  assert {
    condition = (
      module.enrollment[0].environment["MIRRORLAKE_ENROLL_TARGET_ID"] == "tmt-0123456789abcdef0" &&
      module.enrollment[0].environment["MIRRORLAKE_ENROLL_FILTER_ID"] == "tmf-0123456789abcdef0" &&
      module.enrollment[0].environment["MIRRORLAKE_ENROLL_SELECT_TAGS"] == "mirrorlake:mirror=true" &&
      module.enrollment[0].environment["MIRRORLAKE_ENROLL_DEPLOYMENT"] == "mltest"
    )
    error_message = "the enrollment function must send to this stack's mirror target with its filter"
  }

  assert {
    condition = (
      module.enrollment[0].environment["MIRRORLAKE_ENROLL_VPC_IDS"] == var.vpc_id &&
      module.enrollment[0].environment["MIRRORLAKE_ENROLL_VNIS"] == "${var.vpc_id}=4242" &&
      module.enrollment[0].environment["MIRRORLAKE_ENROLL_COLLECTOR_TAG"] == "mirrorlake:role=collector"
    )
    error_message = "enrollment is scoped to this VPC, uses its VNI and never enrolls the collectors"
  }

  assert {
    condition     = output.enrollment_function_name == "mltest-enroll"
    error_message = "the function name is an output of the example"
  }
}

# Issue 23 (8): enrollment never selects the deployment's own instances (the function itself only
# skips the collector tag): the enrollment module checks select_tags against both fleets' tags
# (its precondition is pinned by modules/enrollment/tests, rejects_select_tags_matching_the_aggregators).
run "enrollment_checks_against_both_fleets" {
  command = plan

  override_resource {
    target          = module.mirror_target.aws_ec2_traffic_mirror_target.this
    override_during = plan
    values          = { id = "tmt-0123456789abcdef0" }
  }

  override_resource {
    target          = module.mirror_sessions.aws_ec2_traffic_mirror_filter.this
    override_during = plan
    values          = { id = "tmf-0123456789abcdef0" }
  }

  variables {
    enrollment_lambda_zip_path = "../../modules/enrollment/tests/fixtures/enroll.zip"
  }

  assert {
    condition = (
      length(module.enrollment[0].deployment_instance_tags) == 2 &&
      module.enrollment[0].deployment_instance_tags[0]["mirrorlake:role"] == "collector" &&
      module.enrollment[0].deployment_instance_tags[1]["mirrorlake:role"] == "aggregator" &&
      module.enrollment[0].deployment_instance_tags[1]["Name"] == "mltest-aggregator"
    )
    error_message = "the enrollment module must check its select tags against the collectors' and the aggregators' instance tags"
  }
}

# Issue 23 (7): MSK sized for the example's rate (1 Gbps) and Kafka retention (24 h): 125 MB/s x
# 24 h x 3 replicas / 3 brokers / 0.7 = 14,369 GiB per broker; 125 / 5 MB/s = 25 -> 27 partitions.
run "msk_sized_for_the_rate" {
  command = plan

  assert {
    condition     = module.msk.broker_volume_size_gb == 14369 && module.msk.topic_partitions == 27 && output.msk_topic_config.partitions == 27
    error_message = "MSK must be sized from expected_ingress_gbps and kafka_retention_hours (got ${module.msk.broker_volume_size_gb} GiB, ${module.msk.topic_partitions} partitions)"
  }

  # Issue 23 (3): the first collector creates the topic with those partitions.
  assert {
    condition     = strcontains(module.collectors.user_data, "partitions = 27\n") && strcontains(module.collectors.user_data, "replication = 3\n")
    error_message = "the collectors must create the topic with the msk module's partitions and replication"
  }
}

# Issue 23 (7): kafka_retention_hours is the brokers' log.retention.hours and the topic's
# retention.ms, and the storage is sized for it: 125 MB/s x 6 h x 3 / 3 / 0.7 = 3593 GiB.
run "kafka_retention_reaches_msk" {
  command = plan

  variables {
    kafka_retention_hours = 6
  }

  assert {
    condition = (
      module.msk.server_properties["log.retention.hours"] == "6" &&
      output.msk_topic_config.configs["retention.ms"] == "21600000" &&
      module.msk.broker_volume_size_gb == 3593
    )
    error_message = "kafka_retention_hours must reach MSK's log.retention.hours, the topic's retention.ms and the storage sizing (got ${jsonencode(module.msk.server_properties)})"
  }
}

# Issue 23 (8): a deregistered collector keeps receiving for the target group's deregistration
# delay (drain_ms after SIGTERM): both come from one value, the NLB's UDP idle timeout (120 s).
run "drain_ms_is_the_deregistration_delay" {
  command = plan

  assert {
    condition = (
      module.mirror_target.deregistration_delay_seconds == 120 &&
      strcontains(one([for f in yamldecode(module.collectors.user_data).write_files : f.content if f.path == "/etc/mirrorlake/collector.toml"]), "\ndrain_ms = ${module.mirror_target.deregistration_delay_seconds * 1000}\n")
    )
    error_message = "the collectors' drain_ms must be the NLB target group's deregistration delay in milliseconds"
  }

  assert {
    condition     = strcontains(one([for f in yamldecode(module.collectors.user_data).write_files : f.content if f.path == "/usr/local/sbin/mirrorlake-lifecycle-watch"]), "\nsleep ${module.mirror_target.deregistration_delay_seconds}\n")
    error_message = "a terminating collector's lifecycle watcher must wait out the target group's deregistration delay before stopping it"
  }
}

# Issue 24 (3): the GWLB path. The collectors sit behind a Gateway Load Balancer; this VPC's
# sources send to a GWLB endpoint of their own, like any other VPC's (examples/multi-account).
run "gwlb_path" {
  command = plan

  variables {
    mirror_target_kind      = "gwlb"
    gwlb_allowed_principals = ["arn:aws:iam::444455556666:root"]
  }

  override_resource {
    target          = module.mirror_target.aws_vpc_endpoint_service.this
    override_during = plan
    values = {
      id           = "vpce-svc-0123456789abcdef0"
      service_name = "com.amazonaws.vpce.ap-northeast-1.vpce-svc-0123456789abcdef0"
    }
  }

  override_resource {
    target          = module.source_endpoint[0].aws_ec2_traffic_mirror_target.this
    override_during = plan
    values          = { id = "tmt-0bbbbbbbbbbbbbbb1" }
  }

  assert {
    condition = (
      module.mirror_target.kind == "gwlb" &&
      module.mirror_target.traffic_mirror_target_id == null &&
      module.mirror_target.allowed_principals == tolist(["arn:aws:iam::111122223333:root", "arn:aws:iam::444455556666:root"])
    )
    error_message = "a GWLB allowing this account and the listed ones, no NLB mirror target"
  }

  assert {
    condition = (
      length(module.source_endpoint) == 1 &&
      output.endpoint_service_name == "com.amazonaws.vpce.ap-northeast-1.vpce-svc-0123456789abcdef0" &&
      output.traffic_mirror_target_id == "tmt-0bbbbbbbbbbbbbbb1" &&
      toset(keys(module.mirror_sessions.session_ids)) == toset(var.source_eni_ids)
    )
    error_message = "this VPC's sessions must send to its own GWLB endpoint's mirror target"
  }

  assert {
    condition     = module.mirror_sessions.packet_length == 8446
    error_message = "behind a GWLB endpoint the sessions keep at most 8,446 bytes of each frame"
  }

  assert {
    condition = (
      strcontains(one([for f in yamldecode(module.collectors.user_data).write_files : f.content if f.path == "/etc/mirrorlake/collector.toml"]), "\ngeneve_listen = \"0.0.0.0:6081\"\n") &&
      length(module.collectors.ingress_cidr_blocks.vxlan) == 0 &&
      length(module.collectors.ingress_cidr_blocks.health) == 0 &&
      distinct(module.collectors.ingress_cidr_blocks.gwlb) == tolist(["10.20.1.0/24"])
    )
    error_message = "the collectors listen for GENEVE and admit the GWLB's subnets only (no CIDR lists)"
  }

  assert {
    condition = (
      contains(keys(module.alarms.alarm_arns), "mltest-gwlb-unhealthy-collectors") &&
      contains(keys(module.alarms.alarm_arns), "mltest-gwlb-too-few-healthy-collectors")
    )
    error_message = "the health alarms must watch the GWLB (AWS/GatewayELB)"
  }
}

run "nlb_path_by_default" {
  command = plan

  assert {
    condition = (
      module.mirror_target.kind == "nlb" &&
      length(module.source_endpoint) == 0 &&
      output.endpoint_service_name == null &&
      module.mirror_sessions.packet_length == null &&
      !strcontains(module.collectors.user_data, "geneve_listen") &&
      contains(keys(module.alarms.alarm_arns), "mltest-nlb-unhealthy-collectors")
    )
    error_message = "the default stays the NLB path, unchanged"
  }
}
