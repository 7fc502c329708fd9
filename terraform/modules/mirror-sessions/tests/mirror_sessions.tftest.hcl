# Offline plan-time tests with a mocked AWS provider (no credentials, no network).
mock_provider "aws" {}

variables {
  name                     = "mltest"
  traffic_mirror_target_id = "tmt-0123456789abcdef0"
  source_eni_ids           = ["eni-0aaaaaaaaaaaaaaa1", "eni-0aaaaaaaaaaaaaaa2"]
  excluded_eni_ids         = ["eni-0ccccccccccccccc1"]
  virtual_network_id       = 4242
  packet_length            = 512
}

run "defaults_accept_all_both_directions" {
  command = plan

  assert {
    condition     = length(aws_ec2_traffic_mirror_filter_rule.this) == 4
    error_message = "default filter must have one ingress and one egress rule per address family"
  }

  assert {
    condition = (
      aws_ec2_traffic_mirror_filter_rule.this["ingress-100"].rule_action == "accept" &&
      aws_ec2_traffic_mirror_filter_rule.this["ingress-100"].traffic_direction == "ingress" &&
      aws_ec2_traffic_mirror_filter_rule.this["ingress-100"].source_cidr_block == "0.0.0.0/0" &&
      aws_ec2_traffic_mirror_filter_rule.this["egress-100"].rule_action == "accept" &&
      aws_ec2_traffic_mirror_filter_rule.this["egress-100"].destination_cidr_block == "0.0.0.0/0"
    )
    error_message = "default rules must accept all IPv4 traffic in both directions"
  }

  # Issue 23 (2): a rule matches one address family; without ::/0 rules no IPv6 packet is mirrored.
  assert {
    condition = alltrue([for k in ["ingress-200", "egress-200"] :
      aws_ec2_traffic_mirror_filter_rule.this[k].rule_action == "accept" &&
      aws_ec2_traffic_mirror_filter_rule.this[k].source_cidr_block == "::/0" &&
      aws_ec2_traffic_mirror_filter_rule.this[k].destination_cidr_block == "::/0" &&
      aws_ec2_traffic_mirror_filter_rule.this[k].protocol == null
    ])
    error_message = "default rules must accept all IPv6 traffic in both directions"
  }

  assert {
    condition     = aws_ec2_traffic_mirror_filter_rule.this["ingress-100"].protocol == null
    error_message = "default rules must not restrict the protocol"
  }
}

# Issue 23 (2): IPv6 CIDRs pass the validation (cidrnetmask refused them).
run "ipv6_rules" {
  command = plan

  variables {
    filter_rules = [
      { rule_number = 10, direction = "ingress", source_cidr_block = "::/0", destination_cidr_block = "::/0" },
      { rule_number = 10, direction = "egress", protocol = 6, source_cidr_block = "2600:1f18:1234:5600::/56", destination_cidr_block = "::/0" },
    ]
  }

  assert {
    condition = (
      aws_ec2_traffic_mirror_filter_rule.this["ingress-10"].source_cidr_block == "::/0" &&
      aws_ec2_traffic_mirror_filter_rule.this["egress-10"].source_cidr_block == "2600:1f18:1234:5600::/56"
    )
    error_message = "IPv6 rules must be rendered as given"
  }
}

run "rejects_mixed_address_families" {
  command = plan

  variables {
    filter_rules = [{ rule_number = 10, direction = "ingress", source_cidr_block = "::/0" }]
  }

  expect_failures = [var.filter_rules]
}

run "rejects_bad_cidr" {
  command = plan

  variables {
    filter_rules = [{ rule_number = 10, direction = "ingress", source_cidr_block = "10.0.0.300/8" }]
  }

  expect_failures = [var.filter_rules]
}

run "one_session_per_source_eni" {
  command = plan

  assert {
    condition     = toset(keys(aws_ec2_traffic_mirror_session.this)) == toset(["eni-0aaaaaaaaaaaaaaa1", "eni-0aaaaaaaaaaaaaaa2"])
    error_message = "one session per listed ENI expected"
  }

  assert {
    condition = alltrue([for s in aws_ec2_traffic_mirror_session.this :
      s.session_number == 1 && s.virtual_network_id == 4242 && s.packet_length == 512 &&
      s.traffic_mirror_target_id == "tmt-0123456789abcdef0"
    ])
    error_message = "session number, VNI, packet length and target must be passed through"
  }
}

run "custom_rules" {
  command = plan

  variables {
    filter_rules = [
      { rule_number = 10, direction = "ingress", action = "reject", protocol = 6, destination_port_range = { from_port = 443, to_port = 443 } },
      { rule_number = 20, direction = "ingress", protocol = 6 },
      { rule_number = 10, direction = "egress", protocol = 17, source_cidr_block = "10.0.0.0/8" },
    ]
  }

  assert {
    condition = (
      aws_ec2_traffic_mirror_filter_rule.this["ingress-10"].rule_action == "reject" &&
      aws_ec2_traffic_mirror_filter_rule.this["ingress-10"].destination_port_range[0].from_port == 443 &&
      aws_ec2_traffic_mirror_filter_rule.this["egress-10"].protocol == 17 &&
      aws_ec2_traffic_mirror_filter_rule.this["egress-10"].source_cidr_block == "10.0.0.0/8" &&
      length(aws_ec2_traffic_mirror_filter_rule.this["ingress-20"].destination_port_range) == 0
    )
    error_message = "custom rules must be rendered as given"
  }
}

run "collector_eni_as_source_fails" {
  command = plan

  variables {
    source_eni_ids = ["eni-0aaaaaaaaaaaaaaa1", "eni-0ccccccccccccccc1"]
  }

  expect_failures = [aws_ec2_traffic_mirror_session.this]
}

run "collector_security_group_member_as_source_fails" {
  command = plan

  variables {
    excluded_eni_ids            = []
    excluded_security_group_ids = ["sg-0cccccccccccccccc"]
  }

  override_data {
    target = data.aws_network_interface.source["eni-0aaaaaaaaaaaaaaa2"]
    values = {
      security_groups = ["sg-0aaaaaaaaaaaaaaaa", "sg-0cccccccccccccccc"]
    }
  }

  expect_failures = [aws_ec2_traffic_mirror_session.this]
}

run "sources_outside_collector_group_pass" {
  command = plan

  variables {
    excluded_security_group_ids = ["sg-0cccccccccccccccc"]
  }

  override_data {
    target = data.aws_network_interface.source
    values = {
      security_groups = ["sg-0aaaaaaaaaaaaaaaa"]
    }
  }

  assert {
    condition     = length(aws_ec2_traffic_mirror_session.this) == 2
    error_message = "ENIs outside the excluded groups must be enrolled"
  }
}

run "rejects_more_than_10_rules_per_direction" {
  command = plan

  variables {
    filter_rules = [for n in range(1, 12) : { rule_number = n, direction = "ingress" }]
  }

  expect_failures = [var.filter_rules]
}

run "rejects_duplicate_rule_number_in_direction" {
  command = plan

  variables {
    filter_rules = [
      { rule_number = 100, direction = "ingress" },
      { rule_number = 100, direction = "ingress", protocol = 6 },
    ]
  }

  expect_failures = [var.filter_rules]
}

run "rejects_bad_protocol" {
  command = plan

  variables {
    filter_rules = [{ rule_number = 1, direction = "egress", protocol = 300 }]
  }

  expect_failures = [var.filter_rules]
}

run "rejects_ports_without_tcp_or_udp" {
  command = plan

  variables {
    filter_rules = [{ rule_number = 1, direction = "egress", protocol = 1, destination_port_range = { from_port = 1, to_port = 2 } }]
  }

  expect_failures = [var.filter_rules]
}

run "rejects_bad_session_settings" {
  command = plan

  variables {
    session_number     = 0
    virtual_network_id = 16777216
    packet_length      = 9000
  }

  expect_failures = [var.session_number, var.virtual_network_id, var.packet_length]
}
