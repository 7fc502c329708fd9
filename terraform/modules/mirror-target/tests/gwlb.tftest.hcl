# Issue 24 (3): kind = "gwlb", a Gateway Load Balancer behind a VPC endpoint service. Offline
# plan-time tests with a mocked AWS provider (no credentials, no network). The NLB kind is pinned
# by mirror_target.tftest.hcl.
mock_provider "aws" {
  # The real provider still validates arguments: computed ARNs must look like ARNs.
  mock_resource "aws_lb" {
    defaults = {
      arn        = "arn:aws:elasticloadbalancing:ap-northeast-1:111122223333:loadbalancer/gwy/mltest-gwlb/0123456789abcdef"
      arn_suffix = "gwy/mltest-gwlb/0123456789abcdef"
    }
  }
  mock_resource "aws_lb_target_group" {
    defaults = {
      arn        = "arn:aws:elasticloadbalancing:ap-northeast-1:111122223333:targetgroup/mltest-geneve/0123456789abcdef"
      arn_suffix = "targetgroup/mltest-geneve/0123456789abcdef"
    }
  }
  mock_resource "aws_vpc_endpoint_service" {
    defaults = {
      id           = "vpce-svc-0123456789abcdef0"
      service_name = "com.amazonaws.vpce.ap-northeast-1.vpce-svc-0123456789abcdef0"
    }
  }
}

variables {
  kind       = "gwlb"
  name       = "mltest"
  vpc_id     = "vpc-0123456789abcdef0"
  subnet_ids = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
  allowed_principals = [
    "arn:aws:iam::444455556666:root",
    "arn:aws:iam::777788889999:root",
  ]
}

run "gateway_load_balancer_geneve_target_group" {
  command = plan

  assert {
    condition = (
      aws_lb.this.load_balancer_type == "gateway" &&
      aws_lb.this.name == "mltest-gwlb" &&
      toset(aws_lb.this.subnets) == toset(var.subnet_ids) &&
      aws_lb.this.enable_cross_zone_load_balancing == true &&
      aws_lb.this.enable_deletion_protection == true
    )
    error_message = "a gateway load balancer in the given subnets, cross-zone on (the GWLB default is off), deletion protection on"
  }

  assert {
    condition = (
      aws_lb_target_group.this.protocol == "GENEVE" &&
      aws_lb_target_group.this.port == 6081 &&
      aws_lb_target_group.this.target_type == "instance" &&
      aws_lb_target_group.this.vpc_id == var.vpc_id &&
      aws_lb_target_group.this.name == "mltest-geneve"
    )
    error_message = "the GWLB target group must be GENEVE/6081 with instance targets"
  }

  assert {
    # GENEVE cannot be health-checked, and the GWLB's default would be TCP on port 80.
    condition = (
      aws_lb_target_group.this.health_check[0].enabled == true &&
      aws_lb_target_group.this.health_check[0].protocol == "HTTP" &&
      aws_lb_target_group.this.health_check[0].port == "9090" &&
      aws_lb_target_group.this.health_check[0].path == "/healthz" &&
      aws_lb_target_group.this.health_check[0].matcher == "200-399"
    )
    error_message = "the GWLB must health-check the collectors' readiness over HTTP on their health port (9090, /healthz)"
  }

  assert {
    condition     = aws_lb_target_group.this.deregistration_delay == "120"
    error_message = "the deregistration delay (the collectors' drain_ms) must come from deregistration_delay_seconds"
  }

  assert {
    # Both equal (AWS requires it); rebalance: after the delay, or when unhealthy, flows move to the
    # healthy collectors instead of going to an instance that is gone.
    condition = (
      length(aws_lb_target_group.this.target_failover) == 1 &&
      aws_lb_target_group.this.target_failover[0].on_deregistration == "rebalance" &&
      aws_lb_target_group.this.target_failover[0].on_unhealthy == "rebalance"
    )
    error_message = "target_failover must be set explicitly to rebalance on deregistration and on unhealthy"
  }

  assert {
    condition     = aws_lb_listener.vxlan.port == null && aws_lb_listener.vxlan.default_action[0].type == "forward"
    error_message = "the GWLB listener forwards everything (no port)"
  }
}

run "endpoint_service_and_allowed_principals" {
  command = plan

  assert {
    condition = (
      length(aws_vpc_endpoint_service.this) == 1 &&
      aws_vpc_endpoint_service.this[0].acceptance_required == false &&
      length(aws_vpc_endpoint_service.this[0].gateway_load_balancer_arns) == 1
    )
    error_message = "one endpoint service for the GWLB, connections accepted at once by default"
  }

  assert {
    condition = (
      toset(keys(aws_vpc_endpoint_service_allowed_principal.this)) == toset(var.allowed_principals) &&
      alltrue([for k, p in aws_vpc_endpoint_service_allowed_principal.this : p.principal_arn == k])
    )
    error_message = "every allowed principal (and only those) must be allowed on the endpoint service"
  }

  assert {
    condition     = length(aws_ec2_traffic_mirror_target.this) == 0
    error_message = "no mirror target in gwlb mode: each source VPC has its own (mirror-source-endpoint)"
  }

  assert {
    condition = (
      output.kind == "gwlb" &&
      output.traffic_mirror_target_id == null &&
      output.vxlan_port == null &&
      output.geneve_port == 6081 &&
      output.allowed_principals == sort(var.allowed_principals)
    )
    error_message = "gwlb outputs: the kind, no mirror target, no VXLAN port, GENEVE 6081, the principals"
  }
}

run "manual_acceptance" {
  command = plan

  variables {
    acceptance_required = true
  }

  assert {
    condition     = aws_vpc_endpoint_service.this[0].acceptance_required == true
    error_message = "acceptance_required must reach the endpoint service"
  }
}

run "apply_with_mocks_exposes_the_service" {
  # Full apply against the mock provider: the graph is complete (listener before service) and the
  # outputs the source VPCs need are set.
  assert {
    condition = (
      output.endpoint_service_name == "com.amazonaws.vpce.ap-northeast-1.vpce-svc-0123456789abcdef0" &&
      output.endpoint_service_id == "vpce-svc-0123456789abcdef0" &&
      output.target_group_arn == "arn:aws:elasticloadbalancing:ap-northeast-1:111122223333:targetgroup/mltest-geneve/0123456789abcdef" &&
      output.lb_arn_suffix == "gwy/mltest-gwlb/0123456789abcdef"
    )
    error_message = "the endpoint service name and id, the target group and the GWLB must be outputs"
  }

  assert {
    condition = (
      aws_lb_listener.vxlan.load_balancer_arn == aws_lb.this.arn &&
      aws_lb_listener.vxlan.default_action[0].target_group_arn == aws_lb_target_group.this.arn &&
      aws_vpc_endpoint_service.this[0].gateway_load_balancer_arns == toset([aws_lb.this.arn])
    )
    error_message = "the GWLB's listener forwards to the GENEVE target group, and the endpoint service fronts that GWLB"
  }
}

run "rejects_gwlb_without_allowed_principals" {
  command = plan

  variables {
    allowed_principals = []
  }

  expect_failures = [aws_vpc_endpoint_service.this]
}

# "*" would let any AWS account connect an endpoint and send into the archive.
run "rejects_wildcard_principal" {
  command = plan

  variables {
    allowed_principals = ["*"]
  }

  expect_failures = [var.allowed_principals]
}

run "rejects_account_id_as_principal" {
  command = plan

  variables {
    allowed_principals = ["444455556666"]
  }

  expect_failures = [var.allowed_principals]
}

run "rejects_repeated_principal" {
  command = plan

  variables {
    allowed_principals = ["arn:aws:iam::444455556666:root", "arn:aws:iam::444455556666:root"]
  }

  expect_failures = [var.allowed_principals]
}

run "rejects_security_groups_on_a_gwlb" {
  command = plan

  variables {
    security_group_ids = ["sg-0123456789abcdef0"]
  }

  expect_failures = [aws_lb.this]
}

run "rejects_unknown_kind" {
  command = plan

  variables {
    kind = "alb"
  }

  expect_failures = [var.kind]
}
