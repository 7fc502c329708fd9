variable "name" {
  description = "Name prefix for the fleet's resources. Lowercase letters, digits and hyphens; at most 24 characters."
  type        = string
  default     = "mirrorlake"

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,22}[a-z0-9])?$", var.name))
    error_message = "name must be 1-24 characters of lowercase letters, digits and hyphens, not starting or ending with a hyphen."
  }
}

variable "role" {
  description = "What the instances run: collector or aggregator. Names the service (mirrorlake-<role>.service), the binary (/usr/local/bin/mirrorlake-<role>), the config (/etc/mirrorlake/<role>.toml), the Auto Scaling group (<name>-<role>s), the lifecycle hook (<name>-<role>-drain) and the mirrorlake:role tag."
  type        = string

  validation {
    condition     = contains(["collector", "aggregator"], var.role)
    error_message = "role must be collector or aggregator."
  }
}

variable "subnet_ids" {
  description = "Subnets of the Auto Scaling group."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 1 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "subnet_ids must hold at least one subnet id (subnet-...)."
  }
}

variable "security_group_ids" {
  description = "Security groups of the instances (the caller's own group first, then any extra ones)."
  type        = list(string)

  validation {
    condition     = length(var.security_group_ids) >= 1
    error_message = "security_group_ids must hold at least the fleet's own security group."
  }
}

variable "instance_type" {
  description = "EC2 instance type (the caller validates which families it accepts)."
  type        = string
}

variable "architecture" {
  description = "CPU architecture of the instance type, AMI and binary: x86_64 or arm64 (checked against the instance type)."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "ami_id" {
  description = "AMI of the instances. null = latest Amazon Linux 2023 for the architecture, read from the public SSM parameter at plan time (a new AMI then rolls the fleet through the instance refresh)."
  type        = string
  default     = null

  validation {
    condition     = var.ami_id == null ? true : can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must be null or look like ami-0123456789abcdef0."
  }
}

variable "min_size" {
  description = "Minimum number of instances."
  type        = number
}

variable "max_size" {
  description = "Maximum number of instances."
  type        = number
}

variable "desired_capacity" {
  description = "Initial number of instances; null = min_size. Ignored after creation."
  type        = number
  default     = null
}

variable "target_group_arns" {
  description = "Load balancer target groups to register the instances with; empty = none."
  type        = list(string)
  default     = []
}

variable "health_check_type" {
  description = "How the Auto Scaling group decides an instance is unhealthy: EC2 (status checks) or ELB (also the target groups' health checks)."
  type        = string
  default     = "EC2"

  validation {
    condition     = contains(["EC2", "ELB"], var.health_check_type)
    error_message = "health_check_type must be EC2 or ELB."
  }
}

variable "health_check_grace_period_seconds" {
  description = "Seconds after launch before failed health checks make the Auto Scaling group replace an instance (covers cloud-init download and start)."
  type        = number
  default     = 300
}

variable "default_instance_warmup_seconds" {
  description = "Auto Scaling default instance warmup; null = not set."
  type        = number
  default     = null
}

variable "enabled_metrics" {
  description = "Auto Scaling group metrics published to CloudWatch."
  type        = list(string)
  default     = ["GroupDesiredCapacity", "GroupInServiceInstances", "GroupTerminatingInstances", "GroupTotalInstances"]
}

variable "instance_refresh_min_healthy_percentage" {
  description = "Share of the fleet kept in service while an instance refresh (new launch template version) replaces instances."
  type        = number
  default     = 50

  validation {
    condition     = var.instance_refresh_min_healthy_percentage >= 0 && var.instance_refresh_min_healthy_percentage <= 100
    error_message = "instance_refresh_min_healthy_percentage must be between 0 and 100."
  }
}

variable "binary_url" {
  description = "HTTPS URL of the mirrorlake-<role> binary (or a .tar.gz holding it). Set exactly one of binary_url and binary_s3_uri (checked)."
  type        = string
  default     = null
}

variable "binary_s3_uri" {
  description = "s3://bucket/key of the binary (or .tar.gz); instance_policy_statements then grant s3:GetObject on exactly that object."
  type        = string
  default     = null
}

variable "binary_sha256" {
  description = "Expected SHA-256 (hex) of the downloaded artifact; the install fails on mismatch. null = not checked."
  type        = string
  default     = null
}

variable "config_toml" {
  description = "Content of /etc/mirrorlake/<role>.toml."
  type        = string
}

variable "service_unit" {
  description = "Content of the systemd unit mirrorlake-<role>.service (its TimeoutStopSec must be drain_timeout_seconds: checked)."
  type        = string
}

variable "extra_files" {
  description = "Further cloud-init write_files entries, written after the service's own files and before the CloudWatch agent configuration."
  type = list(object({
    path        = string
    permissions = string
    content     = string
  }))
  default = []
}

variable "setup_commands" {
  description = "cloud-init runcmd entries (argument lists) run before the binary is installed and the service started."
  type        = list(list(string))
  default     = []
}

variable "cloudwatch_namespace" {
  description = "CloudWatch namespace of the agent's host metrics."
  type        = string
  default     = "mirrorlake"
}

variable "cloudwatch_metrics_collected" {
  description = "Extra entries of the CloudWatch agent's metrics.metrics_collected section (memory and root disk usage are always collected)."
  type        = any
  default     = {}
}

variable "cloudwatch_logs" {
  description = "The CloudWatch agent's logs section (for example logs.metrics_collected.prometheus); null = none."
  type        = any
  default     = null
}

variable "drain_timeout_seconds" {
  description = "Seconds the service may take to stop after SIGTERM (its unit's TimeoutStopSec); part of the lifecycle hook's minimum heartbeat timeout."
  type        = number
}

variable "deregistration_delay_seconds" {
  description = "Load balancer deregistration delay the lifecycle watcher waits out before stopping the service (0 without a load balancer)."
  type        = number
  default     = 0
}

variable "lifecycle_hook_heartbeat_timeout_seconds" {
  description = "How long a terminating instance is held in Terminating:Wait; must be at least deregistration_delay_seconds + drain_timeout_seconds + 30 (checked)."
  type        = number
}

variable "root_volume_size_gb" {
  description = "Size of the encrypted gp3 root volume."
  type        = number
  default     = 20
}

variable "ebs_kms_key_arn" {
  description = "KMS key for the root volume; null = the account's default EBS key."
  type        = string
  default     = null
}

variable "enable_detailed_monitoring" {
  description = "1-minute EC2 metrics for the instances."
  type        = bool
  default     = true
}

variable "tag_network_interfaces" {
  description = "Also tag the instances' network interfaces with Name and mirrorlake:role."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource (and propagated to instances and volumes)."
  type        = map(string)
  default     = {}
}
