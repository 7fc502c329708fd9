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

# Issue 24 (5): east-west stored once. Egress to the fleet is rejected (the receiving ENI mirrors
# the packet as ingress), all ingress and the rest of egress accepted (the default filter_rules).
run "east_west_once_rules" {
  command = plan

  variables {
    east_west_once = true
    fleet_cidrs    = ["10.0.16.0/20", "10.0.32.0/20", "2600:1f18:1234:5610::/60"]
  }

  assert {
    condition = (
      length(aws_ec2_traffic_mirror_filter_rule.this) == 7 &&
      length([for r in aws_ec2_traffic_mirror_filter_rule.this : r if r.traffic_direction == "egress"]) == 5 &&
      length([for r in aws_ec2_traffic_mirror_filter_rule.this : r if r.traffic_direction == "ingress"]) == 2
    )
    error_message = "one egress reject per fleet block on top of the four accept-all rules (3 + 4 = 7: 5 egress, 2 ingress)"
  }

  assert {
    condition = (
      aws_ec2_traffic_mirror_filter_rule.this["egress-1"].rule_action == "reject" &&
      aws_ec2_traffic_mirror_filter_rule.this["egress-1"].destination_cidr_block == "10.0.16.0/20" &&
      aws_ec2_traffic_mirror_filter_rule.this["egress-1"].source_cidr_block == "0.0.0.0/0" &&
      aws_ec2_traffic_mirror_filter_rule.this["egress-2"].rule_action == "reject" &&
      aws_ec2_traffic_mirror_filter_rule.this["egress-2"].destination_cidr_block == "10.0.32.0/20" &&
      aws_ec2_traffic_mirror_filter_rule.this["egress-3"].rule_action == "reject" &&
      aws_ec2_traffic_mirror_filter_rule.this["egress-3"].destination_cidr_block == "2600:1f18:1234:5610::/60" &&
      aws_ec2_traffic_mirror_filter_rule.this["egress-3"].source_cidr_block == "::/0" &&
      alltrue([for k in ["egress-1", "egress-2", "egress-3"] : aws_ec2_traffic_mirror_filter_rule.this[k].traffic_direction == "egress" && aws_ec2_traffic_mirror_filter_rule.this[k].protocol == null])
    )
    error_message = "egress to each fleet block must be rejected (all protocols), first (rules 1..N), in its own address family"
  }

  assert {
    # The rejects come before (lower numbers than) the accept-all egress rules.
    condition = (
      aws_ec2_traffic_mirror_filter_rule.this["egress-100"].rule_action == "accept" &&
      aws_ec2_traffic_mirror_filter_rule.this["egress-100"].destination_cidr_block == "0.0.0.0/0" &&
      aws_ec2_traffic_mirror_filter_rule.this["egress-200"].rule_action == "accept" &&
      aws_ec2_traffic_mirror_filter_rule.this["egress-200"].destination_cidr_block == "::/0" &&
      max([for k in ["egress-1", "egress-2", "egress-3"] : aws_ec2_traffic_mirror_filter_rule.this[k].rule_number]...) < aws_ec2_traffic_mirror_filter_rule.this["egress-100"].rule_number
    )
    error_message = "the rest of egress must still be accepted, after the rejects"
  }

  assert {
    condition = (
      aws_ec2_traffic_mirror_filter_rule.this["ingress-100"].rule_action == "accept" &&
      aws_ec2_traffic_mirror_filter_rule.this["ingress-100"].source_cidr_block == "0.0.0.0/0" &&
      aws_ec2_traffic_mirror_filter_rule.this["ingress-200"].rule_action == "accept" &&
      aws_ec2_traffic_mirror_filter_rule.this["ingress-200"].source_cidr_block == "::/0" &&
      length([for r in aws_ec2_traffic_mirror_filter_rule.this : r if r.traffic_direction == "ingress" && r.rule_action == "reject"]) == 0
    )
    error_message = "all ingress must be accepted: the receiver's ingress is the copy that is kept"
  }

  assert {
    condition     = output.east_west_reject_cidrs == ["10.0.16.0/20", "10.0.32.0/20", "2600:1f18:1234:5610::/60"]
    error_message = "the rejected blocks must be an output"
  }
}

run "east_west_off_by_default" {
  command = plan

  variables {
    # fleet_cidrs alone changes nothing.
    fleet_cidrs = ["10.0.16.0/20"]
  }

  assert {
    condition     = length(aws_ec2_traffic_mirror_filter_rule.this) == 4 && length([for r in aws_ec2_traffic_mirror_filter_rule.this : r if r.rule_action == "reject"]) == 0 && output.east_west_reject_cidrs == []
    error_message = "without east_west_once every conversation is mirrored both ways (no reject rule)"
  }
}

run "rejects_east_west_once_without_fleet_cidrs" {
  command = plan

  variables {
    east_west_once = true
  }

  expect_failures = [aws_ec2_traffic_mirror_filter.this]
}

# 9 rejects + the 2 default accept-all egress rules = 11 > 10.
run "rejects_east_west_over_the_egress_quota" {
  command = plan

  variables {
    east_west_once = true
    fleet_cidrs    = [for i in range(9) : "10.${i}.0.0/16"]
  }

  expect_failures = [aws_ec2_traffic_mirror_filter.this]
}

# An egress rule of filter_rules numbered among the rejects would be evaluated before some of them.
run "rejects_egress_rule_numbered_among_the_rejects" {
  command = plan

  variables {
    east_west_once = true
    fleet_cidrs    = ["10.0.16.0/20", "10.0.32.0/20"]
    filter_rules = [
      { rule_number = 100, direction = "ingress" },
      { rule_number = 2, direction = "egress", protocol = 6 },
    ]
  }

  expect_failures = [aws_ec2_traffic_mirror_filter.this]
}

run "east_west_with_custom_rules" {
  command = plan

  variables {
    east_west_once = true
    fleet_cidrs    = ["10.0.16.0/20"]
    filter_rules = [
      { rule_number = 100, direction = "ingress" },
      { rule_number = 10, direction = "egress", protocol = 6 },
    ]
  }

  assert {
    condition = (
      aws_ec2_traffic_mirror_filter_rule.this["egress-1"].rule_action == "reject" &&
      aws_ec2_traffic_mirror_filter_rule.this["egress-10"].protocol == 6 &&
      length(aws_ec2_traffic_mirror_filter_rule.this) == 3
    )
    error_message = "the rejects come first, then filter_rules as given"
  }
}

run "rejects_everything_as_fleet" {
  command = plan

  variables {
    east_west_once = true
    fleet_cidrs    = ["0.0.0.0/0"]
  }

  expect_failures = [var.fleet_cidrs]
}

run "rejects_bad_fleet_cidr" {
  command = plan

  variables {
    east_west_once = true
    fleet_cidrs    = ["10.0.0.300/24"]
  }

  expect_failures = [var.fleet_cidrs]
}

# Issue 24 (3): behind a GWLB endpoint (8,500 bytes of IP) the whole packet would not always fit:
# max_packet_length (mirror-source-endpoint's) truncates the copies instead.
run "gwlb_endpoint_max_packet_length" {
  command = plan

  variables {
    packet_length     = null
    max_packet_length = 8446
  }

  assert {
    condition     = alltrue([for s in aws_ec2_traffic_mirror_session.this : s.packet_length == 8446]) && output.packet_length == 8446
    error_message = "a null packet_length must become max_packet_length"
  }
}

run "rejects_packet_length_above_max" {
  command = plan

  variables {
    packet_length     = 8500
    max_packet_length = 8446
  }

  expect_failures = [aws_ec2_traffic_mirror_session.this]
}
