# Traffic Mirror filter (+ rules) and one static session per explicitly listed source ENI.
#
# Guard rails:
# - The collectors must never be enrolled as sources: a source ENI listed in excluded_eni_ids, or
#   belonging to one of excluded_security_group_ids, fails the plan (precondition below).
# - Rule numbers, directions, protocols, port ranges and the 10-rules-per-direction quota are
#   validated on the variable, before any API call.

locals {
  rules = { for r in var.filter_rules : "${r.direction}-${r.rule_number}" => r }

  # The per-ENI security-group lookup only runs when there is something to compare against.
  lookup_source_enis = length(var.excluded_security_group_ids) > 0
}

resource "aws_ec2_traffic_mirror_filter" "this" {
  description      = "${var.name}: mirror filter"
  network_services = length(var.network_services) > 0 ? var.network_services : null

  tags = merge(var.tags, { Name = "${var.name}-filter" })
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
  packet_length            = var.packet_length

  tags = merge(var.tags, { Name = "${var.name}-${each.value}" })

  lifecycle {
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
