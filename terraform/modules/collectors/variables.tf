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
  description = "VPC of the collectors (the same as the mirror-target NLB)."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "subnet_ids" {
  description = "Private subnets for the collectors, ideally one per NLB Availability Zone."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 1 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "subnet_ids must hold at least one subnet id (subnet-...)."
  }
}

variable "instance_type" {
  description = "EC2 instance type of the collectors. Nitro only: T2, the older Xen families (M4, C4, R4, I3, D2, ...) and bare metal (*.metal) are rejected. Network-optimized types (c6in, c7gn, ...) have the highest packet-per-second allowance."
  type        = string
  default     = "c6in.large"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9-]+$", var.instance_type))
    error_message = "instance_type must look like family.size, for example c6in.large."
  }

  validation {
    condition     = !can(regex("^t2\\.", var.instance_type))
    error_message = "T2 instances are not Nitro instances: use t3/t3a/t4g or a non-burstable Nitro family."
  }

  validation {
    condition     = !can(regex("\\.metal", var.instance_type))
    error_message = "Bare metal instance types (*.metal) are not allowed for collectors: use a virtualized Nitro size."
  }

  validation {
    condition     = !can(regex("^(t1|m1|m2|m3|m4|c1|c3|c4|cc2|cr1|r3|r4|i2|i3|d2|g2|g3|g3s|h1|hs1|p2|p3|x1|x1e)\\.", var.instance_type))
    error_message = "instance_type belongs to a Xen-based (non-Nitro) family: use a Nitro family (for example c6in, c7gn, m6i, m7g)."
  }
}

variable "architecture" {
  description = "CPU architecture of the instance type, AMI and collector binary: x86_64 or arm64 (Graviton, for example c7gn)."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "ami_id" {
  description = "AMI for the collectors. null = latest Amazon Linux 2023 for the architecture, read from the public SSM parameter at plan time (a new AMI then rolls the fleet through the instance refresh)."
  type        = string
  default     = null

  validation {
    condition     = var.ami_id == null ? true : can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must be null or look like ami-0123456789abcdef0."
  }
}

variable "min_size" {
  description = "Minimum number of collectors. Keep at least one per Availability Zone."
  type        = number
  default     = 2

  validation {
    condition     = var.min_size >= 0
    error_message = "min_size must not be negative."
  }
}

variable "max_size" {
  description = "Maximum number of collectors."
  type        = number
  default     = 6

  validation {
    condition     = var.max_size >= 1
    error_message = "max_size must be at least 1."
  }
}

variable "desired_capacity" {
  description = "Initial number of collectors; null = min_size. Ignored after creation when cpu_target_percent enables target tracking."
  type        = number
  default     = null
}

variable "cpu_target_percent" {
  description = "Target average CPU utilization for target-tracking scaling; null disables scaling policies (fixed-size fleet)."
  type        = number
  default     = 60

  validation {
    condition     = var.cpu_target_percent == null ? true : (var.cpu_target_percent >= 10 && var.cpu_target_percent <= 90)
    error_message = "cpu_target_percent must be null or between 10 and 90."
  }
}

variable "target_group_arns" {
  description = "Target groups to register the collectors with (the mirror-target module's target_group_arn: its UDP target group, or its GENEVE one with target_kind = gwlb)."
  type        = list(string)

  validation {
    condition     = length(var.target_group_arns) >= 1
    error_message = "target_group_arns must hold the mirror target's target group: collectors outside it receive nothing."
  }
}

variable "vxlan_port" {
  description = "UDP port the collectors listen on for VXLAN (Traffic Mirroring uses 4789)."
  type        = number
  default     = 4789

  validation {
    condition     = var.vxlan_port >= 1 && var.vxlan_port <= 65535
    error_message = "vxlan_port must be a port number."
  }
}

variable "mirror_source_cidr_blocks" {
  description = "CIDR blocks of the mirror sources, IPv4 or IPv6: every block of their VPCs (secondary CIDRs included). The NLB preserves the client IP for UDP, so the collectors see the mirrored ENIs' own addresses: UDP 4789 is allowed from these blocks. Required (at least one) with target_kind = nlb; leave empty with gwlb (the GWLB's subnets are admitted instead), unless the collectors are behind an NLB as well."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.mirror_source_cidr_blocks : can(cidrhost(c, 0))])
    error_message = "mirror_source_cidr_blocks must hold CIDR blocks (IPv4 or IPv6)."
  }
}

variable "target_kind" {
  description = "The mirror-target module's kind (its kind output). nlb: VXLAN on UDP 4789 from the mirror sources' own addresses (mirror_source_cidr_blocks) and health checks from health_check_cidr_blocks / health_check_security_group_ids. gwlb: collector.toml gets geneve_listen = \"0.0.0.0:6081\" and the security group admits UDP 6081 (GENEVE) and the health port from the GWLB's subnets (gwlb_subnet_ids), no CIDR list needed."
  type        = string
  default     = "nlb"

  validation {
    condition     = contains(["nlb", "gwlb"], var.target_kind)
    error_message = "target_kind must be \"nlb\" or \"gwlb\" (the mirror-target module's kind)."
  }
}

variable "gwlb_subnet_ids" {
  description = "target_kind = gwlb: the GWLB's subnets (the mirror-target module's subnet_ids output); their IPv4 blocks, read from EC2, are admitted on UDP 6081 and the health port. null = subnet_ids (the GWLB in the collectors' subnets). Ignored with nlb."
  type        = list(string)
  default     = null

  validation {
    condition     = var.gwlb_subnet_ids == null ? true : length(var.gwlb_subnet_ids) >= 1 && alltrue([for s in var.gwlb_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "gwlb_subnet_ids must be null or hold at least one subnet id (subnet-...)."
  }
}

variable "health_check_port" {
  description = "TCP port of the collector's HTTP health endpoint (/healthz), health-checked by the NLB or the GWLB."
  type        = number
  default     = 9090

  validation {
    condition     = var.health_check_port >= 1 && var.health_check_port <= 65535 && var.health_check_port != 4789 && var.health_check_port != 6081
    error_message = "health_check_port must be a port number other than 4789 (VXLAN) and 6081 (GENEVE)."
  }
}

variable "health_check_cidr_blocks" {
  description = "CIDR blocks allowed to reach the health port (IPv4 or IPv6): the NLB's subnets' CIDR blocks (NLB health checks come from the NLB's private addresses in its subnets). Not needed with target_kind = gwlb (the GWLB's subnets are admitted from gwlb_subnet_ids)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.health_check_cidr_blocks : can(cidrhost(c, 0))])
    error_message = "health_check_cidr_blocks must hold CIDR blocks (IPv4 or IPv6)."
  }
}

variable "monitoring_cidr_blocks" {
  description = "CIDR blocks of the Prometheus servers that scrape /metrics on the health port (IPv4 or IPv6). [] = no scraper from outside: the CloudWatch agent on each collector scrapes 127.0.0.1. The port is otherwise open to the NLB's health checks only (health_check_cidr_blocks / health_check_security_group_ids)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.monitoring_cidr_blocks : can(cidrhost(c, 0))])
    error_message = "monitoring_cidr_blocks must hold CIDR blocks (IPv4 or IPv6)."
  }
}

variable "health_check_security_group_ids" {
  description = "Security groups allowed to reach the health port (the NLB's security groups, when the NLB has some)."
  type        = list(string)
  default     = []
}

variable "mode" {
  description = "cluster: the collectors publish to the MSK topic and the aggregators write the lake (kafka_bootstrap_brokers, msk_cluster_arn and kafka_* are required). single_node: no MSK, no aggregators; every collector writes its own Parquet files to the lake on S3 (lake_bucket_name required, the kafka_* variables are ignored). See README, \"Choosing the mode\"."
  type        = string
  default     = "cluster"

  validation {
    condition     = contains(["cluster", "single_node"], var.mode)
    error_message = "mode must be \"cluster\" or \"single_node\"."
  }
}

variable "kafka_bootstrap_brokers" {
  description = "MSK bootstrap brokers for IAM auth (host:9098,...), the msk module's bootstrap_brokers_sasl_iam output. The collector authenticates with MSK IAM (SASL/OAUTHBEARER over TLS, token signed with the instance role). Required in cluster mode; null in single_node mode."
  type        = string
  default     = null

  validation {
    condition     = var.kafka_bootstrap_brokers == null ? true : alltrue([for b in split(",", var.kafka_bootstrap_brokers) : can(regex("^[A-Za-z0-9.-]+:9098$", trimspace(b)))])
    error_message = "kafka_bootstrap_brokers must be the IAM listener, host:9098[,host:9098...] (the msk module's bootstrap_brokers_sasl_iam): the collectors authenticate with MSK IAM only."
  }
}

variable "kafka_topic" {
  description = "Kafka topic the collectors produce to."
  type        = string
  default     = "mirrorlake.packets"

  validation {
    condition     = can(regex("^[a-zA-Z0-9._-]{1,249}$", var.kafka_topic))
    error_message = "kafka_topic must be a valid Kafka topic name."
  }
}

variable "kafka_topic_partitions" {
  description = "Partitions the first collector creates the topic with when it does not exist (the msk module's topic_partitions output)."
  type        = number
  default     = 12

  validation {
    condition     = var.kafka_topic_partitions >= 1 && var.kafka_topic_partitions <= 2400 && var.kafka_topic_partitions == floor(var.kafka_topic_partitions)
    error_message = "kafka_topic_partitions must be a whole number from 1 to 2400."
  }
}

variable "kafka_topic_replication_factor" {
  description = "Replication factor the first collector creates the topic with (the msk module's replication_factor output)."
  type        = number
  default     = 3

  validation {
    condition     = var.kafka_topic_replication_factor >= 1 && var.kafka_topic_replication_factor <= 3 && var.kafka_topic_replication_factor == floor(var.kafka_topic_replication_factor)
    error_message = "kafka_topic_replication_factor must be 1, 2 or 3."
  }
}

variable "msk_cluster_arn" {
  description = "ARN of the MSK cluster (arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/UUID); the instance role may connect to it and write to kafka_topic only. Required in cluster mode; null in single_node mode."
  type        = string
  default     = null

  validation {
    condition     = var.msk_cluster_arn == null ? true : can(regex("^arn:aws[a-z-]*:kafka:[a-z0-9-]+:[0-9]{12}:cluster/[A-Za-z0-9-]+/[A-Za-z0-9-]+$", var.msk_cluster_arn))
    error_message = "msk_cluster_arn must be an MSK cluster ARN, arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/UUID (the topic ARN of the IAM policy is derived from it)."
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

variable "spool_max_bytes" {
  description = "The disk bound of each collector's spool, in both modes (spool.max_bytes; the spool is /var/lib/mirrorlake/spool on the root volume). Cluster mode: while MSK is slow or away the collector writes the batches it cannot publish there and replays them in order, exactly once, when the brokers return. Single-node mode: while S3 is slow or away (the lake writer waiting on its uploads) the collector writes the batches the writer cannot take there and replays them in order when it catches up. Beyond this bound it drops them, counted as reason spool_full. How long an outage it covers: this / the collector's mirrored rate (spooled batches are about the size of the mirrored packets), so the default 20 GiB lasts about 2.9 minutes at 1 Gbps, 29 minutes at 100 Mbps. The root volume holds it: root_volume_size_gb must be at least this in GiB + 8 (checked). Ignored with collector_config_toml."
  type        = number
  default     = 21474836480

  validation {
    condition     = var.spool_max_bytes >= 4194304 && var.spool_max_bytes == floor(var.spool_max_bytes)
    error_message = "spool_max_bytes must be a whole number of bytes, at least 4 MiB (4194304: four of the collector's largest Kafka messages)."
  }
}

variable "lake_bucket_name" {
  description = "single_node mode: the lake bucket (the lake module's bucket_name) the collectors write to. Ignored in cluster mode (the aggregators write the lake)."
  type        = string
  default     = null

  validation {
    condition     = var.lake_bucket_name == null ? true : can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.lake_bucket_name))
    error_message = "lake_bucket_name must be a valid S3 bucket name."
  }
}

variable "lake_prefix" {
  description = "single_node mode: key prefix of the lake inside the bucket, without leading or trailing slash (the lake module's prefix). The role may write only below it."
  type        = string
  default     = "mirrorlake"

  validation {
    condition     = can(regex("^[a-zA-Z0-9!_.*'()-]+(/[a-zA-Z0-9!_.*'()-]+)*$", var.lake_prefix))
    error_message = "lake_prefix must be a non-empty key prefix without leading/trailing slash."
  }
}

variable "lake_kms_key_arn" {
  description = "single_node mode: the bucket's KMS key when the lake is SSE-KMS (the lake module's kms_key_arn); the role may use it only through S3 (GenerateDataKey, Decrypt). null = the bucket is not encrypted with a customer key."
  type        = string
  default     = null

  validation {
    condition     = var.lake_kms_key_arn == null ? true : can(regex("^arn:aws[a-z-]*:kms:", var.lake_kms_key_arn))
    error_message = "lake_kms_key_arn must be a KMS key ARN."
  }
}

variable "lake_file_max_age_seconds" {
  description = "single_node mode: each collector closes a lake file this long after opening it (files.max_file_age_ms): the time until rows are queryable, and the number of files: about 3600 / this per collector, table and hour."
  type        = number
  default     = 60

  validation {
    condition     = var.lake_file_max_age_seconds >= 10 && var.lake_file_max_age_seconds <= 3600 && var.lake_file_max_age_seconds == floor(var.lake_file_max_age_seconds)
    error_message = "lake_file_max_age_seconds must be a whole number from 10 to 3600."
  }
}

variable "collector_binary_url" {
  description = "HTTPS URL of the mirrorlake-collector binary (or a .tar.gz holding it) for the chosen architecture. Set exactly one of collector_binary_url and collector_binary_s3_uri."
  type        = string
  default     = null

  validation {
    condition     = var.collector_binary_url == null ? true : startswith(var.collector_binary_url, "https://")
    error_message = "collector_binary_url must be an https:// URL."
  }
}

variable "collector_binary_s3_uri" {
  description = "s3://bucket/key of the mirrorlake-collector binary (or .tar.gz); the instance role gets s3:GetObject on exactly that object."
  type        = string
  default     = null

  validation {
    condition     = var.collector_binary_s3_uri == null ? true : can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+", var.collector_binary_s3_uri))
    error_message = "collector_binary_s3_uri must look like s3://bucket/key."
  }
}

variable "collector_binary_sha256" {
  description = "Expected SHA-256 (hex) of the downloaded artifact; the install fails on mismatch. Strongly recommended for URL downloads."
  type        = string
  default     = null

  validation {
    condition     = var.collector_binary_sha256 == null ? true : can(regex("^[0-9a-f]{64}$", var.collector_binary_sha256))
    error_message = "collector_binary_sha256 must be 64 lowercase hex digits."
  }
}

variable "collector_config_toml" {
  description = "Full content of /etc/mirrorlake/collector.toml. null = render templates/collector.toml.tftpl from the other variables. Use this when the collector's config schema has keys the template does not know."
  type        = string
  default     = null
}

variable "socket_receive_buffer_bytes" {
  description = "UDP socket receive buffer the collector asks for; user data raises net.core.rmem_max to match (the default 208 KiB lost 61% of packets at 0.2 Mpps in our measurements)."
  type        = number
  default     = 67108864

  validation {
    condition     = var.socket_receive_buffer_bytes >= 1048576 && var.socket_receive_buffer_bytes <= 1073741824
    error_message = "socket_receive_buffer_bytes must be between 1 MiB and 1 GiB."
  }
}

variable "log_level" {
  description = "RUST_LOG filter for the collector service."
  type        = string
  default     = "info"
}

variable "drain_timeout_seconds" {
  description = "Seconds systemd gives the collector after SIGTERM to keep receiving for the deregistration delay (drain_ms), flush its batches to Kafka and exit (TimeoutStopSec). At least deregistration_delay_seconds + 30 (checked)."
  type        = number
  default     = 180

  validation {
    condition     = var.drain_timeout_seconds >= 10 && var.drain_timeout_seconds <= 3600
    error_message = "drain_timeout_seconds must be between 10 and 3600."
  }
}

variable "deregistration_delay_seconds" {
  description = "The mirror-target's deregistration delay. When the ASG marks a collector for termination it is deregistered from the NLB and keeps receiving its existing flows for this long; the lifecycle watcher waits this long before stopping the collector, and the collector's drain_ms (receiving on after SIGTERM while /healthz says 503) is set to it."
  type        = number
  default     = 120

  validation {
    condition     = var.deregistration_delay_seconds >= 0 && var.deregistration_delay_seconds <= 3600
    error_message = "deregistration_delay_seconds must be between 0 and 3600."
  }
}

variable "lifecycle_hook_heartbeat_timeout_seconds" {
  description = "How long a terminating collector is held in Terminating:Wait while it drains and flushes. Must cover deregistration_delay_seconds + drain_timeout_seconds + 30 s (checked), since the instance may learn of its termination before the NLB has finished draining it. The instance completes the hook itself when done, so a generous value costs nothing."
  type        = number
  default     = 360

  validation {
    condition     = var.lifecycle_hook_heartbeat_timeout_seconds >= 30 && var.lifecycle_hook_heartbeat_timeout_seconds <= 7200
    error_message = "lifecycle_hook_heartbeat_timeout_seconds must be between 30 and 7200."
  }
}

variable "health_check_grace_period_seconds" {
  description = "Seconds after launch before the ASG acts on a failed health check (covers cloud-init download and start). The ASG uses the EC2 status checks, never the NLB's (README, \"Health checks: no fleet churn\")."
  type        = number
  default     = 300
}

variable "root_volume_size_gb" {
  description = "Size of the encrypted gp3 root volume (GiB). It holds the disk spool (both modes): at least spool_max_bytes in GiB + 8 for the OS, its logs and the agents (checked unless collector_config_toml is set); the default 30 fits the default 20 GiB spool."
  type        = number
  default     = 30

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
  description = "1-minute EC2 metrics for the collectors."
  type        = bool
  default     = true
}

variable "additional_security_group_ids" {
  description = "Extra security groups for the collectors."
  type        = list(string)
  default     = []
}

variable "metrics_log_retention_days" {
  description = "Retention of the log group through which the CloudWatch agent publishes the collectors' drop counters (embedded metric format records, one per series and minute; the extracted metrics are kept by CloudWatch independently)."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.metrics_log_retention_days)
    error_message = "metrics_log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

variable "metrics_log_kms_key_arn" {
  description = "Customer managed KMS key for that log group (its key policy must allow logs.<region>.amazonaws.com). null = CloudWatch Logs' default encryption."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource (and propagated to instances and volumes)."
  type        = map(string)
  default     = {}
}
