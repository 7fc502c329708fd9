variable "name" {
  description = "Name prefix of the alarms, the SNS topic and the KMS alias."
  type        = string
  default     = "mirrorlake"

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$", var.name))
    error_message = "name must be lowercase letters, digits and hyphens."
  }
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for the SNS topic. Its policy must let cloudwatch.amazonaws.com use it (kms:Decrypt, kms:GenerateDataKey*): alarms cannot publish to a topic encrypted with the AWS managed aws/sns key. null = create such a key."
  type        = string
  default     = null
}

variable "email_endpoints" {
  description = "E-mail addresses subscribed to the alarm topic (each must confirm the subscription)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.email_endpoints : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "email_endpoints must hold e-mail addresses."
  }
}

variable "nlb_arn_suffix" {
  description = "ARN suffix of the mirror target's load balancer (mirror-target output lb_arn_suffix: net/... for an NLB, gwy/... for a GWLB), the LoadBalancer dimension."
  type        = string
}

variable "target_kind" {
  description = "The mirror-target module's kind: nlb (health alarms on AWS/NetworkELB, named <name>-nlb-*) or gwlb (AWS/GatewayELB, named <name>-gwlb-*)."
  type        = string
  default     = "nlb"

  validation {
    condition     = contains(["nlb", "gwlb"], var.target_kind)
    error_message = "target_kind must be \"nlb\" or \"gwlb\" (the mirror-target module's kind)."
  }
}

variable "target_group_arn_suffix" {
  description = "ARN suffix of the mirror target's target group (mirror-target output target_group_arn_suffix), the TargetGroup dimension."
  type        = string
}

variable "min_healthy_hosts" {
  description = "Alarm when fewer collectors than this are healthy. With zero healthy targets the load balancer drops every mirrored packet, silently."
  type        = number
  default     = 1

  validation {
    condition     = var.min_healthy_hosts >= 1
    error_message = "min_healthy_hosts must be at least 1."
  }
}

variable "enable_fleet_mirror_skip_alarm" {
  description = "Alarm on the sum of NetworkPacketsSkipMirrorIn/Out over every instance of the account and region (CloudWatch Metrics Insights query). Covers a fleet whose sources change without any Terraform change."
  type        = bool
  default     = true
}

variable "mirror_source_instance_ids" {
  description = "Instances to watch individually for skipped mirror packets (one alarm per instance and direction). Exact and cheap to read, but static: use it for a few critical sources on top of the fleet-wide alarm."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for i in var.mirror_source_instance_ids : can(regex("^i-[0-9a-f]{8,17}$", i))])
    error_message = "mirror_source_instance_ids must hold instance ids (i-...)."
  }
}

variable "mirror_skip_packets_threshold" {
  description = "Alarm when more mirrored packets than this are skipped by AWS (source over its bandwidth/PPS allowance) in one period."
  type        = number
  default     = 0

  validation {
    condition     = var.mirror_skip_packets_threshold >= 0
    error_message = "mirror_skip_packets_threshold must not be negative."
  }
}

variable "mirror_skip_period_seconds" {
  description = "Period of the mirror-skip alarms. EC2 publishes per-instance metrics every 5 minutes (every minute with detailed monitoring)."
  type        = number
  default     = 300

  validation {
    condition     = contains([60, 300], var.mirror_skip_period_seconds)
    error_message = "mirror_skip_period_seconds must be 60 or 300."
  }
}

variable "collector_metric_namespace" {
  description = "CloudWatch namespace of the collectors' own metrics."
  type        = string
  default     = "mirrorlake"
}

variable "dropped_metric_name" {
  description = "Name of the collectors' dropped-packet counter (delta per period) in collector_metric_namespace: the collectors module's cloudwatch_metric_names.packets_dropped."
  type        = string
  default     = "mirrorlake_packets_dropped_total"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+$", var.dropped_metric_name))
    error_message = "dropped_metric_name must be a plain metric name."
  }
}

variable "kernel_drops_metric_name" {
  description = "Name of the collectors' kernel-drop counter (datagrams lost in a full socket buffer; delta per period) in collector_metric_namespace: the collectors module's cloudwatch_metric_names.kernel_drops."
  type        = string
  default     = "mirrorlake_kernel_drops_total"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+$", var.kernel_drops_metric_name))
    error_message = "kernel_drops_metric_name must be a plain metric name."
  }
}

variable "dropped_metric_dimensions" {
  description = "Dimensions of the fleet-level series of both drop counters (the collectors module's cloudwatch_dimensions, { AutoScalingGroupName = \"...\" }). Empty = sum the AutoScalingGroupName series of every collector group in the account and region with a Metrics Insights query."
  type        = map(string)
  default     = {}
}

variable "packets_dropped_threshold" {
  description = "Alarm when the collectors drop more packets than this in one minute, summed over the fleet, by either counter (one alarm each: the collectors' own drop reasons, and the kernel's socket buffer overflows)."
  type        = number
  default     = 1000

  validation {
    condition     = var.packets_dropped_threshold >= 0
    error_message = "packets_dropped_threshold must not be negative."
  }
}

variable "msk_cluster_name" {
  description = "MSK cluster name: when set, alarm on the aggregators' consumer lag (AWS/Kafka EstimatedMaxTimeLag)."
  type        = string
  default     = null
}

variable "kafka_topic" {
  description = "Topic of the consumer-lag alarm."
  type        = string
  default     = "mirrorlake.packets"
}

variable "kafka_consumer_group" {
  description = "Consumer group of the consumer-lag alarm."
  type        = string
  default     = "mirrorlake-aggregator"
}

variable "max_consumer_lag_seconds" {
  description = "Alarm when the aggregators are further behind than this (keep it well under the topic retention)."
  type        = number
  default     = 900
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
