variable "name" {
  description = "Name prefix for the NLB, target group and mirror target. Lowercase letters, digits and hyphens; at most 24 characters (ELB names are capped at 32 and the module appends suffixes)."
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
  description = "Private subnets for the internal NLB, one per Availability Zone that has mirror sources or collectors. Subnets cannot be removed from an NLB later without replacing it."
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
  description = "Optional security groups for the NLB. NLB security groups can only be set when the NLB is created (an NLB created without one can never get one). If set, they must allow UDP 4789 from the mirror sources; the collectors' group can then allow the health port from these groups instead of the VPC CIDR. Empty = no security group on the NLB (the collectors' group does the filtering, since the NLB preserves the client IP for UDP)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.security_group_ids : can(regex("^sg-[0-9a-f]{8,17}$", s))])
    error_message = "security_group_ids must hold security group ids (sg-...)."
  }
}

variable "vxlan_port" {
  description = "UDP port of the listener and the target group. VPC Traffic Mirroring always sends VXLAN to 4789; change it only for tests."
  type        = number
  default     = 4789

  validation {
    condition     = var.vxlan_port == floor(var.vxlan_port) && var.vxlan_port >= 1 && var.vxlan_port <= 65535
    error_message = "vxlan_port must be an integer port number (1-65535). Traffic Mirroring uses 4789."
  }
}

variable "health_check_port" {
  description = "TCP port of the collectors' HTTP health endpoint. NLB health checks cannot use UDP, so the collectors serve HTTP on this separate port."
  type        = number
  default     = 9090

  validation {
    condition     = var.health_check_port == floor(var.health_check_port) && var.health_check_port >= 1 && var.health_check_port <= 65535 && var.health_check_port != 4789
    error_message = "health_check_port must be an integer port number (1-65535) other than 4789."
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
  description = "Seconds between health checks of one target (NLB accepts 5-300)."
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
  description = "Seconds a deregistering collector keeps receiving packets of its existing flows (draining). The NLB UDP idle timeout is fixed at 120 s, so 120 lets flows move naturally; the ASG lifecycle hook then gives the collector time to flush."
  type        = number
  default     = 120

  validation {
    condition     = var.deregistration_delay_seconds >= 0 && var.deregistration_delay_seconds <= 3600
    error_message = "deregistration_delay_seconds must be between 0 and 3600."
  }
}

variable "connection_termination" {
  description = "Close the UDP flows of a deregistered target at the end of the deregistration delay, so the NLB re-hashes them onto the remaining collectors instead of sending them to a dying instance. Keep true for UDP."
  type        = bool
  default     = true
}

variable "enable_deletion_protection" {
  description = "Protect the NLB against deletion: deleting it silently stops all mirroring into this target."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
