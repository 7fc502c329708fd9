# Internal NLB that fronts the collector fleet and the Traffic Mirror target that points at it.
#
# Pitfalls handled here (each pinned by tests/mirror_target.tftest.hcl):
# - Mirroring only works through a UDP listener on 4789; remove it and mirroring stops silently.
# - NLB health checks cannot be UDP: the target group checks HTTP on a separate port, set explicitly.
# - Cross-zone load balancing is on, otherwise an AZ whose collectors are all unhealthy drops its
#   share of the mirrored traffic and AZs added later receive nothing.
# - Deregistration delay plus connection termination let a collector drain before it goes away.

resource "aws_lb" "this" {
  #checkov:skip=CKV_AWS_91:NLB access logs are only written for TLS listeners; this NLB has a single UDP listener, so there is nothing to log. Traffic visibility comes from the packet archive itself.
  name                             = "${var.name}-mirror"
  load_balancer_type               = "network"
  internal                         = true
  subnets                          = var.subnet_ids
  security_groups                  = length(var.security_group_ids) > 0 ? var.security_group_ids : null
  enable_cross_zone_load_balancing = true
  enable_deletion_protection       = var.enable_deletion_protection
  ip_address_type                  = "ipv4"

  tags = merge(var.tags, { Name = "${var.name}-mirror" })
}

resource "aws_lb_target_group" "this" {
  name        = "${var.name}-vxlan"
  vpc_id      = var.vpc_id
  target_type = "instance"
  protocol    = "UDP"
  port        = var.vxlan_port

  # Draining: a deregistered collector keeps its flows for this long, then the NLB closes them.
  deregistration_delay   = var.deregistration_delay_seconds
  connection_termination = var.connection_termination

  # Cross-zone at the target group level too (not merely inherited), so a later change of the
  # load balancer attribute cannot silently switch it off for this group.
  load_balancing_cross_zone_enabled = "true"

  # UDP target groups cannot be health-checked over UDP. The provider default protocol differs
  # between LB types, so every field is set explicitly.
  health_check {
    enabled             = true
    protocol            = "HTTP"
    port                = tostring(var.health_check_port)
    path                = var.health_check_path
    matcher             = "200"
    interval            = var.health_check_interval_seconds
    timeout             = var.health_check_timeout_seconds
    healthy_threshold   = var.healthy_threshold
    unhealthy_threshold = var.unhealthy_threshold
  }

  lifecycle {
    precondition {
      condition     = var.health_check_timeout_seconds < var.health_check_interval_seconds
      error_message = "health_check_timeout_seconds must be smaller than health_check_interval_seconds."
    }
  }

  tags = merge(var.tags, { Name = "${var.name}-vxlan" })
}

resource "aws_lb_listener" "vxlan" {
  load_balancer_arn = aws_lb.this.arn
  protocol          = "UDP"
  port              = var.vxlan_port

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }

  tags = merge(var.tags, { Name = "${var.name}-vxlan" })
}

resource "aws_ec2_traffic_mirror_target" "this" {
  description               = "${var.name}: collectors behind internal NLB ${aws_lb.this.name}"
  network_load_balancer_arn = aws_lb.this.arn

  tags = merge(var.tags, { Name = "${var.name}-collectors" })

  # A mirror target that points at an NLB without the UDP listener accepts sessions but
  # delivers nothing: create it only after the listener exists.
  depends_on = [aws_lb_listener.vxlan]
}
