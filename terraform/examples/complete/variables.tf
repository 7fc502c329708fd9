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
  description = "VPC holding the mirror sources, the collectors and the rest of the pipeline."
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

variable "mirror_target_kind" {
  description = "nlb: an internal NLB and its mirror target (sources in this VPC, or routed to it). gwlb: a Gateway Load Balancer behind a VPC endpoint service; this VPC's sources send to a GWLB endpoint of their own (mirror-source-endpoint), other VPCs and accounts (gwlb_allowed_principals) can connect theirs (examples/multi-account)."
  type        = string
  default     = "nlb"
}

variable "gwlb_allowed_principals" {
  description = "mirror_target_kind = gwlb: principals of other accounts allowed to connect GWLB endpoints (arn:aws:iam::<account>:root). This account is always allowed."
  type        = list(string)
  default     = []
}

variable "gwlb_endpoint_subnet_id" {
  description = "mirror_target_kind = gwlb: subnet of this VPC's GWLB endpoint. null = the first of private_subnet_ids."
  type        = string
  default     = null
}

variable "east_west_once" {
  description = "Mirror a conversation between two mirrored ENIs once (as the receiver's ingress) instead of twice: egress to fleet_cidrs is not mirrored. Correct only if every address of fleet_cidrs is mirrored (modules/mirror-sessions/README.md, \"East-west traffic stored once\")."
  type        = bool
  default     = false
}

variable "fleet_cidrs" {
  description = "east_west_once: the blocks in which every address is a mirrored ENI (the mirrored instances' subnets, not the VPC block: load balancers, NAT gateways and endpoints cannot be mirrored)."
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
  description = "Bytes kept of each mirrored packet (null = 8500, the maximum for an NLB target; with mirror_target_kind = gwlb, 8446, what a GWLB endpoint carries)."
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

variable "aggregator_binary_url" {
  description = "HTTPS URL of the mirrorlake-aggregator build."
  type        = string
}

variable "aggregator_binary_sha256" {
  description = "SHA-256 of the aggregator artifact."
  type        = string
  default     = null
}

variable "expected_ingress_gbps" {
  description = "Peak mirrored rate (Gbps) the deployment is sized for: MSK broker storage and topic partitions (docs/sizing.md)."
  type        = number
  default     = 1
}

variable "kafka_retention_hours" {
  description = "How long Kafka keeps the packets: how long an aggregator outage may last without losing data. Broker storage grows with it."
  type        = number
  default     = 24
}

variable "msk_serverless" {
  description = "Use MSK Serverless instead of a provisioned cluster."
  type        = bool
  default     = false
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
  description = "Protect the mirror load balancer (NLB or GWLB) from deletion (turn off only for throw-away environments)."
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

variable "enrollment_lambda_zip_path" {
  description = "Zip of the mirrorlake-enroll Lambda (binary named bootstrap, see modules/enrollment). null = no fleet-wide enrollment, only the static source_eni_ids sessions."
  type        = string
  default     = null
}

variable "enrollment_select_tags" {
  description = "With enrollment: every ENI of the instances carrying all of these tags is mirrored."
  type        = map(string)
  default     = { "mirrorlake:mirror" = "true" }
}
