variable "name" {
  description = "Name prefix for the fleet's resources. Lowercase letters, digits and hyphens; at most 24 characters."
  type        = string
  default     = "mirrorlake"

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,22}[a-z0-9])?$", var.name))
    error_message = "name must be 1-24 characters of lowercase letters, digits and hyphens, not starting or ending with a hyphen."
  }
}

variable "vpc_id" {
  description = "VPC of the aggregators."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "subnet_ids" {
  description = "Private subnets for the aggregators (they need a route to S3, ideally a gateway endpoint, and to the MSK brokers)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 1 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "subnet_ids must hold at least one subnet id (subnet-...)."
  }
}

variable "instance_type" {
  description = "EC2 instance type of the aggregators (memory for open Parquet row groups matters more than packets per second)."
  type        = string
  default     = "m6i.large"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9-]+$", var.instance_type)) && !can(regex("^t2\\.", var.instance_type))
    error_message = "instance_type must look like family.size and must not be a T2 type."
  }
}

variable "architecture" {
  description = "CPU architecture of the instance type, AMI and aggregator binary: x86_64 or arm64."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "ami_id" {
  description = "AMI for the aggregators. null = latest Amazon Linux 2023 for the architecture (public SSM parameter)."
  type        = string
  default     = null

  validation {
    condition     = var.ami_id == null ? true : can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must be null or look like ami-0123456789abcdef0."
  }
}

variable "min_size" {
  description = "Minimum number of aggregators. More aggregators than topic partitions sit idle."
  type        = number
  default     = 2
}

variable "max_size" {
  description = "Maximum number of aggregators (at most the topic's partition count is useful)."
  type        = number
  default     = 4
}

variable "desired_capacity" {
  description = "Initial number of aggregators; null = min_size. Ignored after creation (scale with min/max or a policy)."
  type        = number
  default     = null
}

variable "kafka_bootstrap_brokers" {
  description = "MSK bootstrap brokers for IAM auth (host:9098,...), the msk module's bootstrap_brokers_sasl_iam output. The aggregator authenticates with MSK IAM (SASL/OAUTHBEARER over TLS, token signed with the instance role)."
  type        = string

  validation {
    condition     = alltrue([for b in split(",", var.kafka_bootstrap_brokers) : can(regex("^[A-Za-z0-9.-]+:9098$", trimspace(b)))])
    error_message = "kafka_bootstrap_brokers must be the IAM listener, host:9098[,host:9098...] (the msk module's bootstrap_brokers_sasl_iam): the aggregators authenticate with MSK IAM only."
  }
}

variable "kafka_topic" {
  description = "Kafka topic the aggregators consume."
  type        = string
  default     = "mirrorlake.packets"

  validation {
    condition     = can(regex("^[a-zA-Z0-9._-]{1,249}$", var.kafka_topic))
    error_message = "kafka_topic must be a valid Kafka topic name."
  }
}

variable "kafka_consumer_group" {
  description = "Kafka consumer group of the aggregators; IAM allows exactly this group."
  type        = string
  default     = "mirrorlake-aggregator"

  validation {
    condition     = can(regex("^[a-zA-Z0-9._-]{1,249}$", var.kafka_consumer_group))
    error_message = "kafka_consumer_group must be a valid Kafka group id without wildcards."
  }
}

variable "kafka_fetch_max_bytes" {
  description = "Consumer max.partition.fetch.bytes; must be at least the broker/topic max message size (msk module's message_max_bytes), or large messages stall consumption."
  type        = number
  default     = 2097152

  validation {
    condition     = var.kafka_fetch_max_bytes >= 1048576
    error_message = "kafka_fetch_max_bytes must be at least 1 MiB."
  }
}

variable "msk_cluster_arn" {
  description = "ARN of the MSK cluster (arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/UUID); the instance role may connect to it, read kafka_topic and use kafka_consumer_group only."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kafka:[a-z0-9-]+:[0-9]{12}:cluster/[A-Za-z0-9-]+/[A-Za-z0-9-]+$", var.msk_cluster_arn))
    error_message = "msk_cluster_arn must be an MSK cluster ARN, arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/UUID (the topic and group ARNs of the IAM policy are derived from it)."
  }
}

variable "kafka_cidr_blocks" {
  description = "CIDR blocks of the MSK brokers (egress TCP 9098). Set this or kafka_security_group_ids."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.kafka_cidr_blocks : can(cidrnetmask(c))])
    error_message = "kafka_cidr_blocks must hold IPv4 CIDR blocks."
  }
}

variable "kafka_security_group_ids" {
  description = "Security groups of the MSK brokers (egress TCP 9098). Set this or kafka_cidr_blocks."
  type        = list(string)
  default     = []
}

variable "lake_bucket_name" {
  description = "Name of the lake bucket (lake module output bucket_name)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.lake_bucket_name))
    error_message = "lake_bucket_name must be a valid S3 bucket name."
  }
}

variable "lake_prefix" {
  description = "Key prefix of the lake inside the bucket, without leading or trailing slash (tables live under <prefix>/<table>/dt=.../hour=.../). The role may write only below it."
  type        = string
  default     = "mirrorlake"

  validation {
    condition     = can(regex("^[a-zA-Z0-9!_.*'()-]+(/[a-zA-Z0-9!_.*'()-]+)*$", var.lake_prefix))
    error_message = "lake_prefix must be a non-empty key prefix without leading/trailing slash."
  }
}

variable "lake_kms_key_arn" {
  description = "ARN of the bucket's KMS key (SSE-KMS); the role may use it only through S3."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.lake_kms_key_arn))
    error_message = "lake_kms_key_arn must be a KMS key ARN."
  }
}

variable "aggregator_binary_url" {
  description = "HTTPS URL of the mirrorlake-aggregator binary (or a .tar.gz holding it). Set exactly one of aggregator_binary_url and aggregator_binary_s3_uri."
  type        = string
  default     = null

  validation {
    condition     = var.aggregator_binary_url == null ? true : startswith(var.aggregator_binary_url, "https://")
    error_message = "aggregator_binary_url must be an https:// URL."
  }
}

variable "aggregator_binary_s3_uri" {
  description = "s3://bucket/key of the mirrorlake-aggregator binary (or .tar.gz); the role gets s3:GetObject on exactly that object."
  type        = string
  default     = null

  validation {
    condition     = var.aggregator_binary_s3_uri == null ? true : can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+", var.aggregator_binary_s3_uri))
    error_message = "aggregator_binary_s3_uri must look like s3://bucket/key."
  }
}

variable "aggregator_binary_sha256" {
  description = "Expected SHA-256 (hex) of the downloaded artifact; the install fails on mismatch."
  type        = string
  default     = null

  validation {
    condition     = var.aggregator_binary_sha256 == null ? true : can(regex("^[0-9a-f]{64}$", var.aggregator_binary_sha256))
    error_message = "aggregator_binary_sha256 must be 64 lowercase hex digits."
  }
}

variable "aggregator_config_toml" {
  description = "Full content of /etc/mirrorlake/aggregator.toml. null = render templates/aggregator.toml.tftpl from the other variables."
  type        = string
  default     = null
}

variable "rack_aware_fetching" {
  description = "Fetch from the replica in the aggregator's own Availability Zone: the unit passes --kafka-option=client.rack=<AZ ID> (read from IMDSv2 before every start; without an answer the aggregator starts without it and fetches from the leaders). Needs the brokers' replica.selector.class=RackAwareReplicaSelector (the msk module's rack_aware_fetching, provisioned clusters only)."
  type        = bool
  default     = true
}

variable "log_level" {
  description = "RUST_LOG filter for the aggregator service."
  type        = string
  default     = "info"
}

variable "drain_timeout_seconds" {
  description = "Seconds systemd gives the aggregator after SIGTERM to close and upload its open files and commit offsets (TimeoutStopSec)."
  type        = number
  default     = 300

  validation {
    condition     = var.drain_timeout_seconds >= 10 && var.drain_timeout_seconds <= 3600
    error_message = "drain_timeout_seconds must be between 10 and 3600."
  }
}

variable "lifecycle_hook_heartbeat_timeout_seconds" {
  description = "How long a terminating aggregator is held in Terminating:Wait to flush; must exceed drain_timeout_seconds + 30 (checked)."
  type        = number
  default     = 420

  validation {
    condition     = var.lifecycle_hook_heartbeat_timeout_seconds >= 30 && var.lifecycle_hook_heartbeat_timeout_seconds <= 7200
    error_message = "lifecycle_hook_heartbeat_timeout_seconds must be between 30 and 7200."
  }
}

variable "root_volume_size_gb" {
  description = "Size of the encrypted gp3 root volume (spill space for Parquet files being built)."
  type        = number
  default     = 50

  validation {
    condition     = var.root_volume_size_gb >= 8
    error_message = "root_volume_size_gb must be at least 8."
  }
}

variable "ebs_kms_key_arn" {
  description = "KMS key for the root volume; null = the account's default EBS key."
  type        = string
  default     = null
}

variable "enable_detailed_monitoring" {
  description = "1-minute EC2 metrics for the aggregators."
  type        = bool
  default     = true
}

variable "additional_security_group_ids" {
  description = "Extra security groups for the aggregators."
  type        = list(string)
  default     = []
}

variable "compact_interval_minutes" {
  description = "Run `mirrorlake-aggregator compact` (small files of closed hours merged into large ones) every this many minutes, on one aggregator: a systemd timer on each, of which only the elected one (lowest InService instance id) runs. null = no compaction."
  type        = number
  default     = 15

  validation {
    condition     = var.compact_interval_minutes == null ? true : contains([5, 10, 15, 20, 30, 60], var.compact_interval_minutes)
    error_message = "compact_interval_minutes must be null or one of 5, 10, 15, 20, 30, 60 (a divisor of the hour)."
  }
}

variable "compact_settle_minutes" {
  description = "Compact an hour only once it ended this long ago (compact --settle-minutes)."
  type        = number
  default     = 120

  validation {
    condition     = var.compact_settle_minutes >= 60
    error_message = "compact_settle_minutes must be at least 60 (late rows and Kafka replays land in the first minutes after an hour)."
  }
}

variable "compact_target_file_mb" {
  description = "Size at which compact cuts the merged files (compact --target-file-mb)."
  type        = number
  default     = 128

  validation {
    condition     = var.compact_target_file_mb >= 8 && var.compact_target_file_mb <= 1024
    error_message = "compact_target_file_mb must be between 8 and 1024."
  }
}

variable "compact_all_files" {
  description = "Also rewrite, once, every large file the collectors and aggregators wrote, re-clustering each hour by mirrored ENI (compact --all-files): Athena/Trino needle queries then read ~1% of a day instead of 4-10%. Costs 12.5 CPU-seconds per GB of lake on one core of the one elected aggregator: it keeps up with about 0.5 Gbps of mirrored traffic (docs/sizing.md, \"Compaction\"). false = only the small files of closed hours."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource (and propagated to instances and volumes)."
  type        = map(string)
  default     = {}
}
