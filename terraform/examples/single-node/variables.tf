variable "region" {
  description = "AWS region to deploy into (the region of the mirror sources)."
  type        = string
  default     = "ap-northeast-1"
}

variable "name" {
  description = "Name prefix of every resource."
  type        = string
  default     = "mirrorlake"
}

variable "vpc_id" {
  description = "VPC holding the mirror sources and the collectors."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets, one per Availability Zone (2 or 3), with a route to S3 (a gateway endpoint is best) and to the AWS APIs."
  type        = list(string)
}

variable "mirror_source_cidr_blocks" {
  description = "CIDR blocks of the mirror sources (UDP 4789 into the collectors), IPv4 or IPv6. null = every block of the VPC: its primary and secondary IPv4 blocks and its subnets' IPv6 blocks."
  type        = list(string)
  default     = null
}

variable "monitoring_cidr_blocks" {
  description = "CIDR blocks of Prometheus servers that scrape the collectors' /metrics (port 9090). [] = none: the port is open to the NLB's subnets (health checks) only; the CloudWatch agent scrapes locally."
  type        = list(string)
  default     = []
}

variable "source_eni_ids" {
  description = "ENIs to mirror with static sessions (known ids). Leave empty to deploy the pipeline first."
  type        = list(string)
  default     = []
}

variable "virtual_network_id" {
  description = "VNI stamped on this VPC's mirrored packets (one per VPC keeps sources apart in the lake)."
  type        = number
  default     = 1
}

variable "packet_length" {
  description = "Bytes kept of each mirrored packet (null = 8500, the maximum for an NLB target)."
  type        = number
  default     = null
}

variable "collector_binary_url" {
  description = "HTTPS URL of the mirrorlake-collector build for the collectors' architecture."
  type        = string
}

variable "collector_binary_sha256" {
  description = "SHA-256 of the collector artifact."
  type        = string
  default     = null
}

variable "collector_instance_type" {
  description = "Collector instance type (Nitro, not bare metal)."
  type        = string
  default     = "c6in.large"
}

variable "lake_bucket_name" {
  description = "Lake bucket name (null = <name>-lake-<account>-<region>)."
  type        = string
  default     = null
}

variable "lake_prefix" {
  description = "Key prefix of the lake inside its bucket."
  type        = string
  default     = "mirrorlake"
}

variable "object_lock" {
  description = "Optional Object Lock default retention for the lake: { mode = GOVERNANCE|COMPLIANCE, retention_days }."
  type = object({
    mode           = string
    retention_days = number
  })
  default = null
}

variable "alarm_emails" {
  description = "E-mail addresses that receive the alarms."
  type        = list(string)
  default     = []
}

variable "enable_deletion_protection" {
  description = "Protect the mirror NLB from deletion (turn off only for throw-away environments)."
  type        = bool
  default     = true
}

variable "force_destroy" {
  description = "Let terraform destroy delete non-empty buckets (throw-away environments only)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags on every resource (provider default_tags)."
  type        = map(string)
  default = {
    Project = "mirrorlake"
  }
}

variable "collector_min_size" {
  description = "Minimum number of collectors (keep one per Availability Zone of the NLB)."
  type        = number
  default     = 2
}

variable "collector_max_size" {
  description = "Maximum number of collectors. Each writes its own files: files per hour grow with it (README, \"When to use it\")."
  type        = number
  default     = 4
}

variable "lake_file_max_age_seconds" {
  description = "Each collector closes a lake file this long after opening it: rows are queryable after about this long, and each collector writes about 3600 / this files per table and hour."
  type        = number
  default     = 60
}
