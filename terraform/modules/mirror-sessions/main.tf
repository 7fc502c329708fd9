# Traffic Mirror filter (+ rules) and one static session per explicitly listed source ENI.
#
# Guard rails:
# - The collectors must never be enrolled as sources: a source ENI listed in excluded_eni_ids, or
#   belonging to one of excluded_security_group_ids, fails the plan (precondition below).
# - Rule numbers, directions, protocols, port ranges and the 10-rules-per-direction quota are
#   validated on the variable, before any API call (the quota again with the east-west rules).
# - east_west_once (issue 24, item 5): a conversation between two mirrored ENIs is mirrored once,
#   as each packet's ingress at its receiver: egress to fleet_cidrs is rejected, everything else
#   accepted as filter_rules say. Correct only if every address of fleet_cidrs is mirrored (README,
#   "East-west traffic stored once"); east_west_once without fleet_cidrs fails the plan.

locals {
  # east_west_once: egress to the fleet is not mirrored (the receiving ENI mirrors the same packet
  # as ingress), one reject rule per fleet block, numbered 1..N so they are evaluated before every
  # rule of filter_rules (whose egress rules must be numbered above N: checked below). The
  # default filter_rules then accept all ingress and the rest of egress, both address families.
  east_west_rules = var.east_west_once ? [for i, c in var.fleet_cidrs : {
    rule_number            = i + 1
    direction              = "egress"
    action                 = "reject"
    protocol               = null
    source_cidr_block      = strcontains(c, ":") ? "::/0" : "0.0.0.0/0"
    destination_cidr_block = c
    source_port_range      = null
    destination_port_range = null
    description            = "${var.name}: east-west once: egress to ${c} is mirrored as the receiver's ingress"
  }] : []

  # merge, not concat: the generated rules have no port ranges (null), so their object type differs
  # from filter_rules' (a key collision is refused by a precondition on the filter).
  rules = merge(
    { for r in local.east_west_rules : "${r.direction}-${r.rule_number}" => r },
    { for r in var.filter_rules : "${r.direction}-${r.rule_number}" => r },
  )
  egress_rule_count = length(local.east_west_rules) + length([for r in var.filter_rules : r if r.direction == "egress"])

  # A GWLB endpoint target carries 8,500 bytes of IP: the VXLAN datagram of a whole jumbo frame
  # would not fit. max_packet_length (mirror-source-endpoint's) truncates instead.
  packet_length = var.packet_length != null ? var.packet_length : var.max_packet_length

  # The per-ENI security-group lookup only runs when there is something to compare against.
  lookup_source_enis = length(var.excluded_security_group_ids) > 0
}

resource "aws_ec2_traffic_mirror_filter" "this" {
  description      = "${var.name}: mirror filter"
  network_services = length(var.network_services) > 0 ? var.network_services : null

  tags = merge(var.tags, { Name = "${var.name}-filter" })

  lifecycle {
    precondition {
      condition     = !var.east_west_once || length(var.fleet_cidrs) > 0
      error_message = "east_west_once needs fleet_cidrs: the blocks whose every address is a mirrored ENI (egress to them is left to the receiver's ingress copy)."
    }

    # The quota counts every rule of a direction, the east-west rejects included.
    precondition {
      condition     = local.egress_rule_count <= 10
      error_message = "A Traffic Mirror filter holds at most 10 rules per direction: east_west_once adds one egress rule per fleet_cidrs block (${length(local.east_west_rules)}) to the ${length([for r in var.filter_rules : r if r.direction == "egress"])} egress rules of filter_rules."
    }

    # A rule of filter_rules evaluated before the rejects (a lower number) could accept egress to
    # the fleet first: that traffic would be mirrored twice again.
    precondition {
      condition     = alltrue([for r in var.filter_rules : r.direction != "egress" || r.rule_number > length(local.east_west_rules)])
      error_message = "With east_west_once, the egress rules of filter_rules must be numbered above ${length(local.east_west_rules)}: rules 1-${length(local.east_west_rules)} are the east-west rejects (one per fleet_cidrs block), evaluated first."
    }
  }
}

resource "aws_ec2_traffic_mirror_filter_rule" "this" {
  for_each = local.rules

  traffic_mirror_filter_id = aws_ec2_traffic_mirror_filter.this.id
  description              = coalesce(each.value.description, "${var.name}: ${each.value.action} ${each.value.direction} #${each.value.rule_number}")
  rule_number              = each.value.rule_number
  traffic_direction        = each.value.direction
  rule_action              = each.value.action
  protocol                 = each.value.protocol
  source_cidr_block        = each.value.source_cidr_block
  destination_cidr_block   = each.value.destination_cidr_block

  dynamic "source_port_range" {
    for_each = each.value.source_port_range == null ? [] : [each.value.source_port_range]
    content {
      from_port = source_port_range.value.from_port
      to_port   = source_port_range.value.to_port
    }
  }

  dynamic "destination_port_range" {
    for_each = each.value.destination_port_range == null ? [] : [each.value.destination_port_range]
    content {
      from_port = destination_port_range.value.from_port
      to_port   = destination_port_range.value.to_port
    }
  }
}

# Looks up each source ENI to compare its security groups with excluded_security_group_ids.
data "aws_network_interface" "source" {
  for_each = local.lookup_source_enis ? toset(var.source_eni_ids) : toset([])

  id = each.value
}

resource "aws_ec2_traffic_mirror_session" "this" {
  for_each = toset(var.source_eni_ids)

  description              = "${var.name}: mirror ${each.value}"
  network_interface_id     = each.value
  traffic_mirror_target_id = var.traffic_mirror_target_id
  traffic_mirror_filter_id = aws_ec2_traffic_mirror_filter.this.id
  session_number           = var.session_number
  virtual_network_id       = var.virtual_network_id
  packet_length            = local.packet_length

  tags = merge(var.tags, { Name = "${var.name}-${each.value}" })

  lifecycle {
    precondition {
      condition     = coalesce(var.packet_length, 0) <= coalesce(var.max_packet_length, 8500)
      error_message = "packet_length (${coalesce(var.packet_length, 0)}) must not exceed max_packet_length (${coalesce(var.max_packet_length, 8500)}): the mirror target (a GWLB endpoint: 8,500 bytes, 54 of them AWS's mirror encapsulation) would not carry the longer copies."
    }

    precondition {
      condition     = !contains(var.excluded_eni_ids, each.value)
      error_message = "${each.value} is a collector ENI (listed in excluded_eni_ids): a collector must never be enrolled as a mirror source."
    }

    precondition {
      condition = !local.lookup_source_enis || length(setintersection(
        try(data.aws_network_interface.source[each.value].security_groups, []),
        var.excluded_security_group_ids,
      )) == 0
      error_message = "${each.value} belongs to an excluded security group (the collectors' group): a collector must never be enrolled as a mirror source."
    }
  }

  # Sessions reference the filter, not its rules: make sure the rules exist first, or the first
  # packets after apply are filtered by an empty filter (nothing mirrored).
  depends_on = [aws_ec2_traffic_mirror_filter_rule.this]
}
