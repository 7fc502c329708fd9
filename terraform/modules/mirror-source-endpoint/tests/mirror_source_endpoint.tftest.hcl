# Issue 24 (3): a source VPC's GWLB endpoint and the Traffic Mirror target on it. Offline tests
# with a mocked AWS provider (no credentials, no network).
mock_provider "aws" {
  mock_resource "aws_vpc_endpoint" {
    defaults = {
      id    = "vpce-0123456789abcdef0"
      state = "available"
    }
  }
  mock_resource "aws_ec2_traffic_mirror_target" {
    defaults = {
      id = "tmt-0123456789abcdef0"
    }
  }
}

variables {
  name         = "mltest"
  service_name = "com.amazonaws.vpce.ap-northeast-1.vpce-svc-0123456789abcdef0"
  vpc_id       = "vpc-0aaaaaaaaaaaaaaa1"
  subnet_id    = "subnet-0aaaaaaaaaaaaaaa1"
}

run "gwlb_endpoint_in_one_subnet" {
  command = plan

  assert {
    condition = (
      aws_vpc_endpoint.this.vpc_endpoint_type == "GatewayLoadBalancer" &&
      aws_vpc_endpoint.this.service_name == var.service_name &&
      aws_vpc_endpoint.this.vpc_id == var.vpc_id &&
      toset(aws_vpc_endpoint.this.subnet_ids) == toset([var.subnet_id])
    )
    error_message = "a GatewayLoadBalancer endpoint to the collectors' service, in the source VPC, in exactly the one subnet"
  }
}

# The endpoint service requires acceptance and nobody accepted yet: no mirror target on a
# connection that carries nothing; the apply fails, naming the endpoint to accept. (Before the
# apply run below: with the endpoint in the state, available, nothing would change.)
run "pending_endpoint_fails_the_apply" {
  command = plan

  override_resource {
    target          = aws_vpc_endpoint.this
    override_during = plan
    values = {
      id    = "vpce-0123456789abcdef0"
      state = "pendingAcceptance"
    }
  }

  expect_failures = [aws_vpc_endpoint.this]
}

run "mirror_target_points_at_the_endpoint" {
  # Apply against the mocks: the target is created on the (available) endpoint and is the output.
  assert {
    condition = (
      aws_ec2_traffic_mirror_target.this.gateway_load_balancer_endpoint_id == "vpce-0123456789abcdef0" &&
      aws_ec2_traffic_mirror_target.this.network_load_balancer_arn == null &&
      aws_ec2_traffic_mirror_target.this.network_interface_id == null
    )
    error_message = "the mirror target must point at the GWLB endpoint (and nothing else)"
  }

  assert {
    condition     = output.traffic_mirror_target_id == "tmt-0123456789abcdef0" && output.vpc_endpoint_id == "vpce-0123456789abcdef0"
    error_message = "the target id (for mirror-sessions or the enrollment) and the endpoint id must be outputs"
  }

  assert {
    condition     = output.max_packet_length == 8500 - 54
    error_message = "the largest packet_length is AWS's for a GWLB endpoint target: 8,500 bytes less 54 of mirror encapsulation"
  }
}

run "rejects_a_service_id_as_service_name" {
  command = plan

  variables {
    service_name = "vpce-svc-0123456789abcdef0"
  }

  expect_failures = [var.service_name]
}

run "rejects_bad_subnet" {
  command = plan

  variables {
    subnet_id = "subnet-0aaaaaaaaaaaaaaa1,subnet-0aaaaaaaaaaaaaaa2"
  }

  expect_failures = [var.subnet_id]
}

# Enrolled by mirrorlake-enroll from another account: the target and an accept-all filter carry
# mirrorlake:owner = the deployment, which is how the enrollment finds them.
run "enrollment_finds_the_target_and_filter_by_tag" {
  command = plan

  variables {
    enrollment_deployment = "prod"
  }

  assert {
    condition = (
      aws_ec2_traffic_mirror_target.this.tags["mirrorlake:owner"] == "prod" &&
      aws_ec2_traffic_mirror_filter.enrollment[0].tags["mirrorlake:owner"] == "prod"
    )
    error_message = "target and filter tagged mirrorlake:owner = the deployment"
  }

  assert {
    condition = (
      length(aws_ec2_traffic_mirror_filter_rule.enrollment) == 4 &&
      alltrue([for r in aws_ec2_traffic_mirror_filter_rule.enrollment : r.rule_action == "accept"]) &&
      toset([for r in aws_ec2_traffic_mirror_filter_rule.enrollment : "${r.traffic_direction} ${r.destination_cidr_block}"]) == toset(["ingress 0.0.0.0/0", "egress 0.0.0.0/0", "ingress ::/0", "egress ::/0"])
    )
    error_message = "the filter takes every packet: accept rules both ways for IPv4 and IPv6"
  }
}

run "no_owner_tag_without_enrollment" {
  command = plan

  assert {
    condition     = !contains(keys(aws_ec2_traffic_mirror_target.this.tags), "mirrorlake:owner") && length(aws_ec2_traffic_mirror_filter.enrollment) == 0
    error_message = "without enrollment_deployment: no owner tag, no filter"
  }
}
