# Issue 24 (4): two source VPCs in two accounts behind one Gateway Load Balancer. Offline plan with
# two mocked AWS providers (no credentials, no network, no role assumed): the central account's
# (default) and the member account's (aws.member). Each returns its own account and, for the
# member, its own endpoint and mirror target ids: a member module planned with the central
# provider would not get them.
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
  mock_data "aws_network_interfaces" {
    defaults = { ids = [] }
  }
  mock_data "aws_subnet" {
    defaults = { cidr_block = "10.20.1.0/24" }
  }
}

mock_provider "aws" {
  alias = "member"

  # Known at plan time, so the test can tell which provider planned what.
  override_during = plan

  mock_data "aws_caller_identity" {
    defaults = { account_id = "444455556666" }
  }
  mock_resource "aws_vpc_endpoint" {
    defaults = { id = "vpce-0bbbbbbbbbbbbbbb1", state = "available" }
  }
  mock_resource "aws_ec2_traffic_mirror_target" {
    defaults = { id = "tmt-0bbbbbbbbbbbbbbb1" }
  }
  mock_resource "aws_ec2_traffic_mirror_filter" {
    defaults = { id = "tmf-0bbbbbbbbbbbbbbb1" }
  }
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
  target          = module.central_endpoint.aws_ec2_traffic_mirror_target.this
  override_during = plan
  values          = { id = "tmt-0aaaaaaaaaaaaaaa1" }
}

variables {
  name                  = "mltest"
  member_role_arn       = "arn:aws:iam::444455556666:role/mirrorlake-deploy"
  collectors_vpc_id     = "vpc-0123456789abcdef0"
  collectors_subnet_ids = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
  central_source = {
    vpc_id             = "vpc-0aaaaaaaaaaaaaaa1"
    endpoint_subnet_id = "subnet-0aaaaaaaaaaaaaaa1"
    eni_ids            = ["eni-0aaaaaaaaaaaaaaa1"]
  }
  member_source = {
    vpc_id             = "vpc-0bbbbbbbbbbbbbbb1"
    endpoint_subnet_id = "subnet-0bbbbbbbbbbbbbbb1"
    eni_ids            = ["eni-0bbbbbbbbbbbbbbb1", "eni-0bbbbbbbbbbbbbbb2"]
  }
  collector_binary_url = "https://artifacts.example.com/mirrorlake-collector-x86_64.tar.gz"
}

run "gwlb_allows_both_accounts" {
  command = plan

  assert {
    condition = (
      module.mirror_target.kind == "gwlb" &&
      output.allowed_principals == tolist(["arn:aws:iam::111122223333:root", "arn:aws:iam::444455556666:root"])
    )
    error_message = "the endpoint service must allow the central account and the member account (read through aws.member)"
  }

  assert {
    condition     = output.endpoint_service_name == "com.amazonaws.vpce.ap-northeast-1.vpce-svc-0123456789abcdef0"
    error_message = "the endpoint service name is an output (for further source VPCs)"
  }
}

run "each_source_vpc_has_its_endpoint_and_target" {
  command = plan

  assert {
    # The member's ids come from the aws.member mock: its modules were planned with that provider.
    condition = (
      output.member_traffic_mirror_target_id == "tmt-0bbbbbbbbbbbbbbb1" &&
      output.member_vpc_endpoint_id == "vpce-0bbbbbbbbbbbbbbb1" &&
      module.member_sessions.traffic_mirror_filter_id == "tmf-0bbbbbbbbbbbbbbb1"
    )
    error_message = "the member VPC's endpoint, mirror target and filter must be created with the member account's provider"
  }

  assert {
    condition     = output.central_traffic_mirror_target_id == "tmt-0aaaaaaaaaaaaaaa1"
    error_message = "the central VPC's mirror target is its own endpoint's"
  }

  assert {
    condition = (
      toset(keys(output.central_session_ids)) == toset(["eni-0aaaaaaaaaaaaaaa1"]) &&
      toset(keys(output.member_session_ids)) == toset(["eni-0bbbbbbbbbbbbbbb1", "eni-0bbbbbbbbbbbbbbb2"])
    )
    error_message = "each VPC's ENIs get sessions in their own account"
  }

  assert {
    condition = (
      module.central_sessions.virtual_network_id == 1 &&
      module.member_sessions.virtual_network_id == 2 &&
      module.central_sessions.packet_length == 8446 &&
      module.member_sessions.packet_length == 8446
    )
    error_message = "one VNI per VPC, and copies cut to what a GWLB endpoint carries"
  }
}

run "collectors_behind_the_gwlb" {
  command = plan

  assert {
    condition = (
      strcontains(one([for f in yamldecode(module.collectors.user_data).write_files : f.content if f.path == "/etc/mirrorlake/collector.toml"]), "\ngeneve_listen = \"0.0.0.0:6081\"\n") &&
      strcontains(one([for f in yamldecode(module.collectors.user_data).write_files : f.content if f.path == "/etc/mirrorlake/collector.toml"]), "\nlake = \"s3://mltest-lake-111122223333-ap-northeast-1/mirrorlake\"\n")
    )
    error_message = "the collectors listen for GENEVE and write the lake (single node)"
  }

  assert {
    condition = (
      length(module.collectors.ingress_cidr_blocks.vxlan) == 0 &&
      length(module.collectors.ingress_cidr_blocks.health) == 0 &&
      length(module.collectors.ingress_cidr_blocks.gwlb) == 2
    )
    error_message = "the collectors admit the GWLB's subnets only: no CIDR list of the sources (which may overlap)"
  }

  assert {
    condition     = contains(keys(module.alarms.alarm_arns), "mltest-gwlb-too-few-healthy-collectors")
    error_message = "the health alarms watch the GWLB"
  }
}

run "collector_eni_as_central_source_fails" {
  command = plan

  override_data {
    target = data.aws_network_interfaces.collectors
    values = { ids = ["eni-0aaaaaaaaaaaaaaa1"] }
  }

  expect_failures = [data.aws_network_interfaces.collectors]
}

run "rejects_member_role_that_is_not_a_role" {
  command = plan

  variables {
    member_role_arn = "444455556666"
  }

  expect_failures = [var.member_role_arn]
}
