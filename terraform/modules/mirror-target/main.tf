# The load balancer that fronts the collector fleet, in one of two kinds:
#
# - kind = "nlb" (default): an internal NLB with a UDP 4789 listener, and the Traffic Mirror target
#   that points at it. Mirror sessions in this VPC (or VPCs routed to it) send to that target.
# - kind = "gwlb": a Gateway Load Balancer (GENEVE, UDP 6081 to the collectors) exposed as a VPC
#   endpoint service. No mirror target here: each source VPC, in any account allowed below, gets a
#   GWLB endpoint and a mirror target pointing at it (modules/mirror-source-endpoint). The GWLB
#   wraps the mirror session's VXLAN datagram in GENEVE; the collectors take it on geneve_listen.
#
# Both kinds use the same resource addresses for the load balancer, target group and listener
# (switching kind replaces them; deletion protection makes that fail until it is turned off).
#
# Pitfalls handled here (each pinned by tests/mirror_target.tftest.hcl):
# - NLB: mirroring only works through a UDP listener on 4789; remove it and mirroring stops silently.
# - Health checks cannot use the traffic protocol (UDP for the NLB, GENEVE for the GWLB): the target
#   group checks HTTP on the collectors' health port, every field set explicitly (the provider
#   defaults differ between LB types; the GWLB default would be TCP on port 80).
# - Cross-zone load balancing is on (both kinds; the GWLB's default is off), otherwise an AZ whose
#   collectors are all unhealthy drops its share of the mirrored traffic and AZs added later
#   receive nothing.
# - Deregistration delay plus connection termination (NLB) or target_failover = rebalance (GWLB)
#   let a collector drain, then move its flows to the remaining collectors instead of sending them
#   to an instance that is gone.
# - GWLB: no security groups (a GWLB cannot have any), at least one allowed principal (nobody can
#   connect an endpoint otherwise), "*" refused (any AWS account could send into the archive); the
#   endpoint service exists only once the listener does (an endpoint connected before the listener
#   delivers nothing).

locals {
  nlb  = var.kind == "nlb"
  gwlb = var.kind == "gwlb"

  # A GWLB always sends GENEVE to its targets on UDP 6081 (the only protocol and port it supports).
  geneve_port = 6081

  suffix = local.gwlb ? "gwlb" : "mirror"
}

resource "aws_lb" "this" {
  #checkov:skip=CKV_AWS_91:NLB access logs are only written for TLS listeners; this NLB has a single UDP listener, so there is nothing to log. A Gateway Load Balancer has no access logs at all. Traffic visibility comes from the packet archive itself.
  #checkov:skip=CKV_AWS_131:Dropping invalid HTTP headers is an Application Load Balancer setting; this is a network or a gateway load balancer (checkov does not resolve the conditional load_balancer_type and takes it for an ALB). Nothing here parses HTTP.
  name                             = "${var.name}-${local.suffix}"
  load_balancer_type               = local.gwlb ? "gateway" : "network"
  internal                         = local.nlb ? true : null
  subnets                          = var.subnet_ids
  security_groups                  = local.nlb && length(var.security_group_ids) > 0 ? var.security_group_ids : null
  enable_cross_zone_load_balancing = true
  enable_deletion_protection       = var.enable_deletion_protection
  ip_address_type                  = "ipv4"

  tags = merge(var.tags, { Name = "${var.name}-${local.suffix}" })

  lifecycle {
    precondition {
      condition     = local.nlb || length(var.security_group_ids) == 0
      error_message = "security_group_ids must be empty with kind = \"gwlb\": a Gateway Load Balancer cannot have security groups (the collectors' group admits the GWLB's subnets)."
    }
  }
}

resource "aws_lb_target_group" "this" {
  name        = local.gwlb ? "${var.name}-geneve" : "${var.name}-vxlan"
  vpc_id      = var.vpc_id
  target_type = "instance"
  protocol    = local.gwlb ? "GENEVE" : "UDP"
  port        = local.gwlb ? local.geneve_port : var.vxlan_port

  # Draining: a deregistered collector keeps its flows for this long (both kinds); then the NLB
  # closes them (connection_termination) or the GWLB rehashes them (target_failover, below).
  deregistration_delay   = var.deregistration_delay_seconds
  connection_termination = local.nlb ? var.connection_termination : null

  # Cross-zone at the target group level too (not merely inherited), so a later change of the
  # load balancer attribute cannot silently switch it off for this group. NLB only: a GWLB target
  # group has no such attribute (the GWLB's own attribute, above, applies).
  load_balancing_cross_zone_enabled = local.nlb ? "true" : null

  # GWLB: what happens to the existing flows of a collector that is deregistered (scale-in,
  # instance refresh) or fails its health check (draining, dropping, dead). AWS requires both
  # attributes to be equal.
  # - rebalance (chosen): after the deregistration delay (during which the collector still
  #   receives them and drains: its drain_ms is that delay), or once the target is unhealthy, the
  #   GWLB rehashes the flows onto the healthy collectors. The GWLB's equivalent of the NLB's
  #   connection_termination.
  # - no_rebalance (the AWS default): the GWLB keeps sending existing flows to the failed or
  #   drained target for as long as they last; a mirrored flow (one VXLAN 5-tuple per mirrored
  #   flow) lasts as long as its packets keep coming, so a scaled-in collector's share of them
  #   would be sent to an instance that no longer exists and be lost, without any error.
  # Cost of rebalance: a flow moved mid-stream is stored by two collectors (each packet once).
  dynamic "target_failover" {
    for_each = local.gwlb ? [1] : []
    content {
      on_deregistration = "rebalance"
      on_unhealthy      = "rebalance"
    }
  }

  # Neither UDP nor GENEVE can be health-checked. The provider default protocol differs between
  # LB types, so every field is set explicitly.
  health_check {
    enabled  = true
    protocol = "HTTP"
    port     = tostring(var.health_check_port)
    path     = var.health_check_path
    # GWLB target groups take only "200-399" (ELBv2 Matcher); the collector answers 200 or 503.
    matcher             = local.gwlb ? "200-399" : "200"
    interval            = var.health_check_interval_seconds
    timeout             = var.health_check_timeout_seconds
    healthy_threshold   = var.healthy_threshold
    unhealthy_threshold = var.unhealthy_threshold
  }

  # Stickiness is left at each kind's default: the NLB hashes the UDP 5-tuple; the GWLB's default
  # is the 5-tuple too (source_ip_dest_ip[_proto] would put all of a source ENI's mirror traffic
  # on one collector). The 5-tuple is the mirror session's VXLAN datagram, whose UDP source port
  # AWS derives from the mirrored flow: a mirrored flow stays on one collector.

  lifecycle {
    precondition {
      condition     = var.health_check_timeout_seconds < var.health_check_interval_seconds
      error_message = "health_check_timeout_seconds must be smaller than health_check_interval_seconds."
    }
  }

  tags = merge(var.tags, { Name = local.gwlb ? "${var.name}-geneve" : "${var.name}-vxlan" })
}

# The listener (named vxlan for the NLB, where it is the UDP 4789 one). A GWLB listener has no
# protocol or port: it forwards every packet arriving at the GWLB (through its endpoints) to the
# target group, GENEVE-wrapped.
resource "aws_lb_listener" "vxlan" {
  load_balancer_arn = aws_lb.this.arn
  protocol          = local.nlb ? "UDP" : null
  port              = local.nlb ? var.vxlan_port : null

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }

  tags = merge(var.tags, { Name = local.gwlb ? "${var.name}-geneve" : "${var.name}-vxlan" })
}

################################################################################
# kind = "nlb": the Traffic Mirror target
################################################################################

resource "aws_ec2_traffic_mirror_target" "this" {
  count = local.nlb ? 1 : 0

  description               = "${var.name}: collectors behind internal NLB ${aws_lb.this.name}"
  network_load_balancer_arn = aws_lb.this.arn

  tags = merge(var.tags, { Name = "${var.name}-collectors" })

  # A mirror target that points at an NLB without the UDP listener accepts sessions but
  # delivers nothing: create it only after the listener exists.
  depends_on = [aws_lb_listener.vxlan]
}

# The mirror target became conditional (kind): existing NLB deployments keep theirs.
moved {
  from = aws_ec2_traffic_mirror_target.this
  to   = aws_ec2_traffic_mirror_target.this[0]
}

################################################################################
# kind = "gwlb": the endpoint service the source VPCs connect their GWLB endpoints to
################################################################################

resource "aws_vpc_endpoint_service" "this" {
  #checkov:skip=CKV_AWS_123:Manual acceptance is opt-in (acceptance_required). Only the principals of allowed_principals can connect at all (no "*", checked), each one listed on purpose; with manual acceptance every new source VPC's endpoint stays pendingAcceptance and mirrors nothing until someone accepts it (mirror-source-endpoint fails its apply until then).
  count = local.gwlb ? 1 : 0

  acceptance_required        = var.acceptance_required
  gateway_load_balancer_arns = [aws_lb.this.arn]

  tags = merge(var.tags, { Name = "${var.name}-mirror" })

  lifecycle {
    precondition {
      condition     = length(var.allowed_principals) > 0
      error_message = "allowed_principals must name at least one principal with kind = \"gwlb\" (for example arn:aws:iam::<account>:root of every account with mirror sources): otherwise no source VPC can connect an endpoint to the service."
    }
  }

  # An endpoint connected before the listener exists is accepted but delivers nothing.
  depends_on = [aws_lb_listener.vxlan]
}

# One resource per principal (not the service's allowed_principals argument: the two must not be
# mixed), so adding an account touches nothing else.
resource "aws_vpc_endpoint_service_allowed_principal" "this" {
  for_each = local.gwlb ? toset(var.allowed_principals) : toset([])

  vpc_endpoint_service_id = aws_vpc_endpoint_service.this[0].id
  principal_arn           = each.value
}
