variable "name" {
  description = "Cluster name (also the prefix of its configuration, security group and log group)."
  type        = string
  default     = "mirrorlake"

  validation {
    condition     = can(regex("^[a-zA-Z0-9]([a-zA-Z0-9-]{0,62})$", var.name))
    error_message = "name must be 1-63 characters of letters, digits and hyphens, starting with a letter or digit."
  }
}

variable "serverless" {
  description = "Create an MSK Serverless cluster instead of a provisioned one. Serverless always uses IAM auth and TLS, fixes replication at 3 and the maximum message size at 8 MiB, and ignores the broker settings below."
  type        = bool
  default     = false
}

variable "vpc_id" {
  description = "VPC of the cluster."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "subnet_ids" {
  description = "Private client subnets, one per Availability Zone (2 or 3 for provisioned; 2-5 for serverless)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2 && length(var.subnet_ids) <= 5 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "subnet_ids must hold 2 to 5 subnet ids in different Availability Zones."
  }
}

variable "client_security_group_ids" {
  description = "Security groups of the clients (collectors, aggregators) allowed to reach the brokers on 9098 (IAM auth over TLS)."
  type        = list(string)
  default     = []
}

variable "client_cidr_blocks" {
  description = "CIDR blocks allowed to reach the brokers on 9098; prefer client_security_group_ids."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.client_cidr_blocks : can(cidrnetmask(c))])
    error_message = "client_cidr_blocks must hold IPv4 CIDR blocks."
  }
}

variable "kafka_version" {
  description = "Apache Kafka version of a provisioned cluster."
  type        = string
  default     = "3.6.0"
}

variable "broker_instance_type" {
  description = "Broker instance type of a provisioned cluster."
  type        = string
  default     = "kafka.m7g.large"

  validation {
    condition     = startswith(var.broker_instance_type, "kafka.") || startswith(var.broker_instance_type, "express.")
    error_message = "broker_instance_type must be an MSK broker type (kafka.* or express.*)."
  }
}

variable "number_of_broker_nodes" {
  description = "Number of brokers of a provisioned cluster; a multiple of the number of subnets. 3 or more for replication factor 3."
  type        = number
  default     = 3

  validation {
    condition     = var.number_of_broker_nodes >= 2
    error_message = "number_of_broker_nodes must be at least 2."
  }
}

variable "expected_ingress_gbps" {
  description = "Peak mirrored rate the collectors publish, in Gbps (the messages are about the size of the mirrored packets: the frames dominate). Sizes broker storage (rate x topic_retention_hours x replication / brokers, filled to 70%) and the topic's partitions (partition_throughput_mbps each). null = broker_volume_size_gb and topic_partitions as given (1000 GiB, 12 when those are null too)."
  type        = number
  default     = null

  validation {
    condition     = var.expected_ingress_gbps == null ? true : var.expected_ingress_gbps > 0
    error_message = "expected_ingress_gbps must be null or positive."
  }
}

variable "partition_throughput_mbps" {
  description = "Ingress per partition (MB/s) that topic_partitions is derived with from expected_ingress_gbps. 5 = MSK Serverless' per-partition ingress quota, also a comfortable rate for one aggregator per partition."
  type        = number
  default     = 5

  validation {
    condition     = var.partition_throughput_mbps > 0
    error_message = "partition_throughput_mbps must be positive."
  }
}

variable "broker_volume_size_gb" {
  description = "Initial EBS storage per broker (GiB). null = derived from expected_ingress_gbps x topic_retention_hours x replication / brokers at 70% fill (1000 without a rate). Storage autoscaling grows it up to max_broker_volume_size_gb; Terraform then leaves the cluster's size alone (MSK cannot shrink a volume)."
  type        = number
  default     = null

  validation {
    condition     = var.broker_volume_size_gb == null ? true : (var.broker_volume_size_gb >= 1 && var.broker_volume_size_gb <= 16384)
    error_message = "broker_volume_size_gb must be null or between 1 and 16384."
  }
}

variable "max_broker_volume_size_gb" {
  description = "Upper bound of storage autoscaling per broker (GiB; MSK's maximum is 16384)."
  type        = number
  default     = 16384

  validation {
    condition     = var.max_broker_volume_size_gb >= 1 && var.max_broker_volume_size_gb <= 16384
    error_message = "max_broker_volume_size_gb must be between 1 and 16384."
  }
}

variable "storage_autoscaling_target_percent" {
  description = "Storage autoscaling keeps broker disk utilization (KafkaBrokerStorageUtilization) at this percent by growing the volumes; null = no autoscaling."
  type        = number
  default     = 60

  validation {
    condition     = var.storage_autoscaling_target_percent == null ? true : (var.storage_autoscaling_target_percent >= 10 && var.storage_autoscaling_target_percent <= 90)
    error_message = "storage_autoscaling_target_percent must be null or between 10 and 90."
  }
}

variable "disk_used_alarm_percent" {
  description = "Alarm when any broker's data log disk (KafkaDataLogsDiskUsed) is fuller than this percent: a full broker stops accepting the collectors' messages."
  type        = number
  default     = 80

  validation {
    condition     = var.disk_used_alarm_percent >= 10 && var.disk_used_alarm_percent <= 99
    error_message = "disk_used_alarm_percent must be between 10 and 99."
  }
}

variable "alarm_actions" {
  description = "ARNs notified when the disk alarm fires or clears (the alarms module's SNS topic)."
  type        = list(string)
  default     = []
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for encryption at rest and the broker log group of a provisioned cluster. null = create one (provisioned only; serverless clusters always use an AWS owned key)."
  type        = string
  default     = null
}

variable "message_max_bytes" {
  description = "Largest record batch the brokers accept (message.max.bytes). replica.fetch.max.bytes is set to the same value and replica.fetch.response.max.bytes to at least it, so replication never stalls on a large message; consumers must fetch at least this much per partition (aggregators: kafka_fetch_max_bytes). Producers should stay below ~90% of it. Serverless: fixed at 8 MiB broker side, set on the topic instead."
  type        = number
  default     = 2097152

  validation {
    condition     = var.message_max_bytes >= 1048588 && var.message_max_bytes <= 8388608
    error_message = "message_max_bytes must be between 1048588 (Kafka's default) and 8388608 (8 MiB)."
  }
}

variable "rack_aware_fetching" {
  description = "Let consumers fetch from the replica in their own Availability Zone (replica.selector.class=org.apache.kafka.common.replica.RackAwareReplicaSelector; the aggregators send their AZ ID as client.rack, see the aggregators module's rack_aware_fetching). Provisioned clusters only: MSK Serverless does not accept broker settings, there the consumers fetch from the leaders."
  type        = bool
  default     = true
}

variable "topic_name" {
  description = "Topic the collectors produce to and the aggregators consume."
  type        = string
  default     = "mirrorlake.packets"

  validation {
    condition     = can(regex("^[a-zA-Z0-9._-]{1,249}$", var.topic_name))
    error_message = "topic_name must be a valid Kafka topic name."
  }
}

variable "topic_partitions" {
  description = "Partitions of the packets topic: the upper bound of aggregator parallelism. null = max(12, expected_ingress_gbps in MB/s / partition_throughput_mbps), rounded up to a multiple of the brokers (12 without a rate). Increase later only with care (keyless producers are fine; the Parquet naming is per partition)."
  type        = number
  default     = null

  validation {
    condition     = var.topic_partitions == null ? true : (var.topic_partitions >= 1 && var.topic_partitions <= 2400)
    error_message = "topic_partitions must be null or between 1 and 2400."
  }
}

variable "topic_retention_hours" {
  description = "Retention of the packets topic. It is a buffer between collectors and aggregators: long enough to survive an aggregator outage, not an archive."
  type        = number
  default     = 24

  validation {
    condition     = var.topic_retention_hours >= 1
    error_message = "topic_retention_hours must be at least 1."
  }
}

variable "enhanced_monitoring" {
  description = "MSK enhanced monitoring level of a provisioned cluster (DEFAULT already includes consumer-lag metrics)."
  type        = string
  default     = "DEFAULT"

  validation {
    condition     = contains(["DEFAULT", "PER_BROKER", "PER_TOPIC_PER_BROKER", "PER_TOPIC_PER_PARTITION"], var.enhanced_monitoring)
    error_message = "enhanced_monitoring must be DEFAULT, PER_BROKER, PER_TOPIC_PER_BROKER or PER_TOPIC_PER_PARTITION."
  }
}

variable "log_retention_days" {
  description = "Retention of the broker log group (provisioned clusters)."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ..., 365, ...)."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
