# Offline plan-time tests with a mocked AWS provider (no credentials, no network).
mock_provider "aws" {
  # The real provider still validates arguments: computed ARNs must look like ARNs.
  mock_resource "aws_lb" {
    defaults = {
      arn        = "arn:aws:elasticloadbalancing:ap-northeast-1:111122223333:loadbalancer/net/mltest-mirror/0123456789abcdef"
      arn_suffix = "net/mltest-mirror/0123456789abcdef"
    }
  }
  mock_resource "aws_lb_target_group" {
    defaults = {
      arn        = "arn:aws:elasticloadbalancing:ap-northeast-1:111122223333:targetgroup/mltest-vxlan/0123456789abcdef"
      arn_suffix = "targetgroup/mltest-vxlan/0123456789abcdef"
    }
  }
}

variables {
  name       = "mltest"
  vpc_id     = "vpc-0123456789abcdef0"
  subnet_ids = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
}

run "udp_listener_http_health_check_cross_zone" {
  command = plan

  assert {
    condition     = aws_lb.this.load_balancer_type == "network" && aws_lb.this.internal == true
    error_message = "the mirror target must be an internal network load balancer"
  }

  assert {
    condition     = aws_lb.this.enable_cross_zone_load_balancing == true
    error_message = "cross-zone load balancing must be on"
  }

  assert {
    condition     = aws_lb_target_group.this.load_balancing_cross_zone_enabled == "true"
    error_message = "the target group must not opt out of cross-zone load balancing"
  }

  assert {
    condition     = aws_lb_listener.vxlan.protocol == "UDP" && aws_lb_listener.vxlan.port == 4789
    error_message = "the NLB needs a UDP listener on 4789 or mirroring stops silently"
  }

  assert {
    condition     = aws_lb_target_group.this.protocol == "UDP" && aws_lb_target_group.this.port == 4789
    error_message = "the target group must be UDP 4789"
  }

  assert {
    condition     = aws_lb_target_group.this.health_check[0].protocol == "HTTP"
    error_message = "health check protocol must be HTTP (UDP health checks are not possible)"
  }

  assert {
    # /healthz is the collector's readiness (503 while draining or dropping), never /livez.
    condition     = aws_lb_target_group.this.health_check[0].port == "9090" && aws_lb_target_group.this.health_check[0].path == "/healthz"
    error_message = "health check must hit the collectors' health port and /healthz"
  }

  assert {
    condition     = aws_lb_target_group.this.connection_termination == true && aws_lb_target_group.this.deregistration_delay == "120"
    error_message = "draining: deregistration delay 120 s with connection termination expected"
  }

  assert {
    condition     = aws_lb.this.enable_deletion_protection == true
    error_message = "deletion protection should default to on"
  }
}

run "custom_health_port" {
  command = plan

  variables {
    health_check_port = 8080
  }

  assert {
    condition     = aws_lb_target_group.this.health_check[0].port == "8080" && output.health_check_port == 8080
    error_message = "health_check_port must flow into the health check"
  }
}

# /readyz is the collector's other name for /healthz (readiness).
run "readyz_health_check_path" {
  command = plan

  variables {
    health_check_path = "/readyz"
  }

  assert {
    condition     = aws_lb_target_group.this.health_check[0].path == "/readyz"
    error_message = "health_check_path must flow into the health check"
  }
}

# /livez stays 200 while a collector drains or drops: the NLB would keep sending it new flows.
run "rejects_liveness_health_check_path" {
  command = plan

  variables {
    health_check_path = "/livez"
  }

  expect_failures = [var.health_check_path]
}

run "rejects_health_check_on_vxlan_port" {
  command = plan

  variables {
    health_check_port = 4789
  }

  expect_failures = [var.health_check_port]
}

run "rejects_timeout_not_below_interval" {
  command = plan

  variables {
    health_check_interval_seconds = 5
    health_check_timeout_seconds  = 5
  }

  expect_failures = [aws_lb_target_group.this]
}

run "apply_with_mocks_creates_target" {
  # Full apply against the mock provider: proves the graph is complete (listener before target).
  assert {
    condition     = output.traffic_mirror_target_id != "" && output.target_group_arn != ""
    error_message = "mirror target and target group must be created"
  }
}

# Issue 24 (3): kind defaults to "nlb", today's resources; nothing of the GWLB path.
run "nlb_is_the_default_kind" {
  command = plan

  assert {
    condition = (
      output.kind == "nlb" &&
      length(aws_ec2_traffic_mirror_target.this) == 1 &&
      length(aws_vpc_endpoint_service.this) == 0 &&
      length(aws_vpc_endpoint_service_allowed_principal.this) == 0 &&
      output.endpoint_service_name == null &&
      output.geneve_port == null &&
      output.vxlan_port == 4789 &&
      aws_lb.this.name == "mltest-mirror" &&
      aws_lb_target_group.this.name == "mltest-vxlan"
    )
    error_message = "the default kind is the NLB with its mirror target (same names as before), no endpoint service"
  }
}

# allowed_principals is ignored with the NLB (no endpoint service to allow them on).
run "nlb_ignores_allowed_principals" {
  command = plan

  variables {
    allowed_principals = ["arn:aws:iam::444455556666:root"]
  }

  assert {
    condition     = length(aws_vpc_endpoint_service_allowed_principal.this) == 0 && length(output.allowed_principals) == 0
    error_message = "no endpoint service permissions with kind = nlb"
  }
}
