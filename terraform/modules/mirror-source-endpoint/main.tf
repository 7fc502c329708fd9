# One source VPC's way into a Gateway Load Balancer mirror target (mirror-target, kind = "gwlb"):
# a GWLB endpoint connected to the collectors' VPC endpoint service, and a Traffic Mirror target
# pointing at that endpoint. Mirror sessions in this VPC (mirror-sessions, or the enrollment) send
# to the target; the endpoint hands the mirror session's VXLAN datagrams to the GWLB, which wraps
# them in GENEVE and sends them to a collector (UDP 6081). Runs in the source VPC's account: the
# provider passed to this module must be that account's.
#
# Pitfalls handled here (each pinned by tests/mirror_source_endpoint.tftest.hcl):
# - A GWLB endpoint takes exactly one subnet (one AZ); it must be an AZ in which the GWLB has a
#   subnet, matched by AZ id across accounts (otherwise AWS refuses the endpoint).
# - An endpoint whose connection was not accepted (the service's acceptance_required) is created
#   pendingAcceptance and carries nothing: a mirror target on it would accept sessions and
#   deliver nothing. The endpoint's postcondition fails the apply until it is available, and the
#   mirror target is only created after that.

resource "aws_vpc_endpoint" "this" {
  vpc_id            = var.vpc_id
  service_name      = var.service_name
  vpc_endpoint_type = "GatewayLoadBalancer"
  subnet_ids        = [var.subnet_id]

  tags = merge(var.tags, { Name = "${var.name}-mirror" })

  lifecycle {
    postcondition {
      condition     = self.state == "available"
      error_message = "The GWLB endpoint ${self.id} is ${self.state}, not available: the endpoint service requires acceptance (mirror-target acceptance_required). Accept it in the collectors' account (aws ec2 accept-vpc-endpoint-connections --service-id <endpoint_service_id> --vpc-endpoint-ids ${self.id}) and apply again; the mirror target is created then."
    }
  }
}

locals {
  # mirrorlake-enroll finds a member account's target and filter by this tag (never put on
  # sessions: the enrollment deletes the sessions it owns that it does not want).
  owner_tag = var.enrollment_deployment == null ? {} : { "mirrorlake:owner" = var.enrollment_deployment }
}

resource "aws_ec2_traffic_mirror_target" "this" {
  description                       = "${var.name}: mirrorlake collectors through GWLB endpoint ${aws_vpc_endpoint.this.id}"
  gateway_load_balancer_endpoint_id = aws_vpc_endpoint.this.id

  tags = merge(var.tags, local.owner_tag, { Name = "${var.name}-collectors" })
}

# For the enrollment of this account: a filter that takes every packet, both directions, IPv4
# and IPv6 (a filter without rules mirrors nothing), tagged like the target.
resource "aws_ec2_traffic_mirror_filter" "enrollment" {
  count       = var.enrollment_deployment == null ? 0 : 1
  description = "${var.name}: every packet, for mirrorlake-enroll"

  tags = merge(var.tags, local.owner_tag, { Name = "${var.name}-enrollment-filter" })
}

resource "aws_ec2_traffic_mirror_filter_rule" "enrollment" {
  for_each = var.enrollment_deployment == null ? {} : {
    "ingress-v4" = { direction = "ingress", number = 100, cidr = "0.0.0.0/0" }
    "egress-v4"  = { direction = "egress", number = 100, cidr = "0.0.0.0/0" }
    "ingress-v6" = { direction = "ingress", number = 110, cidr = "::/0" }
    "egress-v6"  = { direction = "egress", number = 110, cidr = "::/0" }
  }

  traffic_mirror_filter_id = aws_ec2_traffic_mirror_filter.enrollment[0].id
  description              = "${var.name}: accept every ${each.value.direction} packet"
  rule_number              = each.value.number
  traffic_direction        = each.value.direction
  rule_action              = "accept"
  source_cidr_block        = each.value.cidr
  destination_cidr_block   = each.value.cidr
}
