variable "kind" {
  description = "Which load balancer fronts the collectors. nlb: an internal Network Load Balancer (UDP 4789) and the Traffic Mirror target pointing at it, for mirror sources in this VPC or routed to it. gwlb: a Gateway Load Balancer (GENEVE, UDP 6081 to the collectors) behind a VPC endpoint service; every source VPC, in any account of allowed_principals, connects a GWLB endpoint and makes it its mirror target (modules/mirror-source-endpoint). Changing it replaces the load balancer."
  type        = string
  default     = "nlb"

  validation {
    condition     = contains(["nlb", "gwlb"], var.kind)
    error_message = "kind must be \"nlb\" (internal Network Load Balancer and mirror target) or \"gwlb\" (Gateway Load Balancer and VPC endpoint service)."
  }
}

variable "name" {
  description = "Name prefix for the load balancer, target group and mirror target. Lowercase letters, digits and hyphens; at most 24 characters (ELB names are capped at 32 and the module appends suffixes)."
  type        = string
  default     = "mirrorlake"

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,22}[a-z0-9])?$", var.name))
    error_message = "name must be 1-24 characters of lowercase letters, digits and hyphens, not starting or ending with a hyphen."
  }
}

variable "vpc_id" {
  description = "VPC in which the NLB and its collector targets live."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "subnet_ids" {
  description = "Private subnets for the load balancer, one per Availability Zone that has mirror sources (NLB) or GWLB endpoints (GWLB, matched by AZ id across accounts) or collectors. Subnets cannot be removed from an NLB later without replacing it."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 1 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "subnet_ids must hold at least one subnet id (subnet-...)."
  }

  validation {
    condition     = length(distinct(var.subnet_ids)) == length(var.subnet_ids)
    error_message = "subnet_ids must not repeat a subnet."
  }
}

variable "security_group_ids" {
  description = "kind = nlb only (a GWLB cannot have any: must stay empty). Optional security groups for the NLB. NLB security groups can only be set when the NLB is created (an NLB created without one can never get one). If set, they must allow UDP 4789 from the mirror sources; the collectors' group can then allow the health port from these groups instead of the VPC CIDR. Empty = no security group on the NLB (the collectors' group does the filtering, since the NLB preserves the client IP for UDP)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.security_group_ids : can(regex("^sg-[0-9a-f]{8,17}$", s))])
    error_message = "security_group_ids must hold security group ids (sg-...)."
  }
}

variable "vxlan_port" {
  description = "kind = nlb only: UDP port of the listener and the target group. VPC Traffic Mirroring always sends VXLAN to 4789; change it only for tests. (A GWLB always uses GENEVE on 6081.)"
  type        = number
  default     = 4789

  validation {
    condition     = var.vxlan_port == floor(var.vxlan_port) && var.vxlan_port >= 1 && var.vxlan_port <= 65535
    error_message = "vxlan_port must be an integer port number (1-65535). Traffic Mirroring uses 4789."
  }
}

variable "health_check_port" {
  description = "TCP port of the collectors' HTTP health endpoint. Health checks cannot use UDP (NLB) or GENEVE (GWLB), so the collectors serve HTTP on this separate port."
  type        = number
  default     = 9090

  validation {
    condition     = var.health_check_port == floor(var.health_check_port) && var.health_check_port >= 1 && var.health_check_port <= 65535 && var.health_check_port != 4789 && var.health_check_port != 6081
    error_message = "health_check_port must be an integer port number (1-65535) other than 4789 (VXLAN) and 6081 (GENEVE)."
  }
}

variable "health_check_path" {
  description = "HTTP path of the collectors' readiness endpoint: /healthz or its alias /readyz (200 while the collector takes what arrives, spooling included; 503 while it drains after SIGTERM or drops batches). Not /livez: a collector that is alive but draining or dropping must get no new flows."
  type        = string
  default     = "/healthz"

  validation {
    condition     = contains(["/healthz", "/readyz"], var.health_check_path)
    error_message = "health_check_path must be /healthz or /readyz (the collector's readiness; /livez stays 200 while it drains or drops)."
  }
}

variable "health_check_interval_seconds" {
  description = "Seconds between health checks of one target (NLB and GWLB accept 5-300)."
  type        = number
  default     = 10

  validation {
    condition     = var.health_check_interval_seconds >= 5 && var.health_check_interval_seconds <= 300
    error_message = "health_check_interval_seconds must be between 5 and 300."
  }
}

variable "health_check_timeout_seconds" {
  description = "Seconds without a response after which a health check fails (2-120, and less than the interval)."
  type        = number
  default     = 5

  validation {
    condition     = var.health_check_timeout_seconds >= 2 && var.health_check_timeout_seconds <= 120
    error_message = "health_check_timeout_seconds must be between 2 and 120."
  }
}

variable "healthy_threshold" {
  description = "Consecutive successful checks before a target is healthy (2-10)."
  type        = number
  default     = 3

  validation {
    condition     = var.healthy_threshold >= 2 && var.healthy_threshold <= 10
    error_message = "healthy_threshold must be between 2 and 10."
  }
}

variable "unhealthy_threshold" {
  description = "Consecutive failed checks before a target is unhealthy (2-10)."
  type        = number
  default     = 2

  validation {
    condition     = var.unhealthy_threshold >= 2 && var.unhealthy_threshold <= 10
    error_message = "unhealthy_threshold must be between 2 and 10."
  }
}

variable "deregistration_delay_seconds" {
  description = "Seconds a deregistering collector keeps receiving packets of its existing flows (draining), both kinds. The NLB UDP idle timeout is fixed at 120 s, so 120 lets flows move naturally; then the NLB closes them (connection_termination) or the GWLB rehashes them (target_failover = rebalance). The ASG lifecycle hook then gives the collector time to flush; the collectors' drain_ms is this delay."
  type        = number
  default     = 120

  validation {
    condition     = var.deregistration_delay_seconds >= 0 && var.deregistration_delay_seconds <= 3600
    error_message = "deregistration_delay_seconds must be between 0 and 3600."
  }
}

variable "connection_termination" {
  description = "kind = nlb only: close the UDP flows of a deregistered target at the end of the deregistration delay, so the NLB re-hashes them onto the remaining collectors instead of sending them to a dying instance. Keep true for UDP. (The GWLB does the same with target_failover = rebalance, always set.)"
  type        = bool
  default     = true
}

variable "enable_deletion_protection" {
  description = "Protect the load balancer against deletion: deleting it silently stops all mirroring into this target (and, for a GWLB, through every source VPC's endpoint)."
  type        = bool
  default     = true
}

variable "allowed_principals" {
  description = "kind = gwlb: IAM principals allowed to connect GWLB endpoints to the endpoint service, as ARNs: arn:aws:iam::<account>:root for every account with mirror sources (this account's too, when it has some), or a role/user ARN to narrow it. At least one is required with gwlb; \"*\" (every AWS account) is refused. Ignored with nlb."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.allowed_principals : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(root|role/[A-Za-z0-9+=,.@_/-]+|user/[A-Za-z0-9+=,.@_/-]+)$", p))])
    error_message = "allowed_principals must hold IAM principal ARNs: arn:aws:iam::<12-digit account>:root, ...:role/NAME or ...:user/NAME (\"*\", every AWS account, is refused)."
  }

  validation {
    condition     = length(distinct(var.allowed_principals)) == length(var.allowed_principals)
    error_message = "allowed_principals must not repeat a principal."
  }
}

variable "acceptance_required" {
  description = "kind = gwlb: whether each endpoint connection must be accepted by hand in this account (aws ec2 accept-vpc-endpoint-connections). false = the endpoints of allowed_principals are accepted at once. With true, a source VPC mirrors nothing until its endpoint is accepted."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
