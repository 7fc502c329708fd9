variable "name" {
  description = "Name used in descriptions and Name tags. Lowercase letters, digits and hyphens."
  type        = string
  default     = "mirrorlake"

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$", var.name))
    error_message = "name must be 1-64 characters of lowercase letters, digits and hyphens, not starting or ending with a hyphen."
  }
}

variable "service_name" {
  description = "Service name of the collectors' VPC endpoint service: the mirror-target module's endpoint_service_name (kind = \"gwlb\"), com.amazonaws.vpce.<region>.vpce-svc-<17 hex digits>. This account must be one of that module's allowed_principals."
  type        = string

  validation {
    condition     = can(regex("^com\\.amazonaws\\.vpce\\.[a-z0-9-]+\\.vpce-svc-[0-9a-f]{17}$", var.service_name))
    error_message = "service_name must be a VPC endpoint service name, com.amazonaws.vpce.<region>.vpce-svc-0123456789abcdef0 (the mirror-target module's endpoint_service_name output)."
  }
}

variable "vpc_id" {
  description = "The source VPC: the VPC of the ENIs to mirror."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "subnet_id" {
  description = "The one subnet of the GWLB endpoint (a GatewayLoadBalancer endpoint takes exactly one). It must be in an Availability Zone where the GWLB has a subnet, matched by AZ id (apne1-az1), not by name: AZ names differ between accounts. Sources in every AZ of the VPC reach it."
  type        = string

  validation {
    condition     = can(regex("^subnet-[0-9a-f]{8,17}$", var.subnet_id))
    error_message = "subnet_id must be one subnet id (subnet-...): a GWLB endpoint takes exactly one subnet."
  }
}

variable "enrollment_deployment" {
  description = "When this account's ENIs are enrolled by mirrorlake-enroll (--member-role or --organization-role): its deployment name. The mirror target and a filter that takes every packet are then tagged mirrorlake:owner = this value, which is how the enrollment finds them. Null: no tag, no filter (static sessions from mirror-sessions)."
  type        = string
  default     = null

  validation {
    condition     = var.enrollment_deployment == null ? true : (length(var.enrollment_deployment) >= 1 && length(var.enrollment_deployment) <= 256)
    error_message = "enrollment_deployment must be 1-256 characters (the enrollment's --deployment), or null."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
