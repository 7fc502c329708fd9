# Collector fleet: the shared fleet module (launch template + cloud-init, ASG registered with the
# mirror NLB's UDP target group, termination lifecycle hook for draining, instance role) plus what
# is the collectors' own: their config and unit, the socket buffer sysctl, the ENA allowance
# counters, the security group and the permission to produce to the packets topic (cluster mode)
# or to write the lake on S3 (single-node mode: no MSK, no aggregators).

data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
  cluster   = var.mode == "cluster"

  # target_kind = "gwlb": the collectors sit behind a Gateway Load Balancer (mirror-target, kind =
  # "gwlb"), which sends GENEVE to UDP 6081 (and health-checks the health port) from its own
  # addresses in its subnets; those subnets' blocks are the only sources the security group needs
  # on that path (no mirror_source_cidr_blocks: the sources' addresses never reach the collectors).
  gwlb             = var.target_kind == "gwlb"
  geneve_port      = 6081
  gwlb_subnet_ids  = local.gwlb ? (var.gwlb_subnet_ids != null ? var.gwlb_subnet_ids : var.subnet_ids) : []
  gwlb_cidr_blocks = [for s in data.aws_subnet.gwlb : s.cidr_block]

  # arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/UUID -> topic/NAME/UUID/TOPIC
  kafka_topic_arn = local.cluster && var.msk_cluster_arn != null ? "${replace(var.msk_cluster_arn, ":cluster/", ":topic/")}/${var.kafka_topic}" : null

  # single_node without lake_bucket_name fails the plan (a precondition on the security group).
  lake_bucket_arn = "arn:${local.partition}:s3:::${coalesce(var.lake_bucket_name, "unset")}"

  collector_toml_rendered = (local.cluster ?
    templatefile("${path.module}/templates/collector.toml.tftpl", {
      vxlan_port                  = var.vxlan_port
      health_check_port           = var.health_check_port
      socket_receive_buffer_bytes = var.socket_receive_buffer_bytes
      kafka_topic                 = var.kafka_topic
      kafka_bootstrap_brokers     = coalesce(var.kafka_bootstrap_brokers, "unset")
      kafka_topic_partitions      = var.kafka_topic_partitions
      kafka_topic_replication     = var.kafka_topic_replication_factor
      drain_ms                    = var.deregistration_delay_seconds * 1000
      spool_max_bytes             = var.spool_max_bytes
    }) :
    # A template of its own, without %{ } directives: collector/src/config.rs parses
    # collector.toml.tftpl (placeholders replaced) as a config, and the same works for this one.
    templatefile("${path.module}/templates/collector-single-node.toml.tftpl", {
      vxlan_port                  = var.vxlan_port
      health_check_port           = var.health_check_port
      socket_receive_buffer_bytes = var.socket_receive_buffer_bytes
      drain_ms                    = var.deregistration_delay_seconds * 1000
      lake_bucket_name            = coalesce(var.lake_bucket_name, "unset")
      lake_prefix                 = var.lake_prefix
      max_file_age_ms             = var.lake_file_max_age_seconds * 1000
      spool_max_bytes             = var.spool_max_bytes
    })
  )

  # target_kind = "gwlb": geneve_listen joins the top-level keys, right before http (TOML keys of
  # the root table must come before the first [table]). A fragment of its own rather than a
  # %{ if } in the templates: collector/src/config.rs parses collector.toml.tftpl as it is
  # (placeholders replaced), and scripts/check_collector_templates.py checks both templates with
  # and without the fragment against the collector's config.
  geneve_toml    = templatefile("${path.module}/templates/collector-geneve.toml.tftpl", { geneve_port = local.geneve_port })
  collector_toml = var.collector_config_toml != null ? var.collector_config_toml : (local.gwlb ? replace(local.collector_toml_rendered, "\nhttp = ", "\n${local.geneve_toml}http = ") : local.collector_toml_rendered)

  # Drop counters published to CloudWatch: the CloudWatch agent scrapes the collector's /metrics
  # (Prometheus) and sends the selected counters as embedded metric format (EMF) records to a log
  # group, from which CloudWatch extracts them as metrics. Counters become per-scrape deltas, so a
  # period's Sum is the packets dropped in that period. The names must be ones the collector
  # exports: scripts/check_cloudwatch_metrics.py (run by test.sh) checks this file against
  # deploy/metrics/collector.json, generated from the collector's metric registry.
  cloudwatch = jsondecode(file("${path.module}/cloudwatch-metrics.json"))

  prometheus_job         = "mirrorlake-collector"
  prometheus_config_path = "/opt/aws/amazon-cloudwatch-agent/etc/mirrorlake-prometheus.yaml"

  prometheus_config = {
    global = { scrape_interval = "1m", scrape_timeout = "10s" }
    scrape_configs = [{
      job_name     = local.prometheus_job
      metrics_path = "/metrics"
      static_configs = [{
        targets = ["127.0.0.1:${var.health_check_port}"]
        # The fleet-level dimension of every published metric.
        labels = { AutoScalingGroupName = module.fleet.names.autoscaling_group }
      }]
      # Keep only what is published: the log records stay small and nothing else is billed.
      metric_relabel_configs = [{
        source_labels = ["__name__"]
        regex         = join("|", sort([for m in local.cloudwatch.metrics : m.name]))
        action        = "keep"
      }]
    }]
  }

  cloudwatch_agent_logs = {
    metrics_collected = {
      prometheus = {
        log_group_name         = aws_cloudwatch_log_group.prometheus.name
        prometheus_config_path = local.prometheus_config_path
        emf_processor = {
          metric_declaration_dedup = true
          metric_namespace         = local.cloudwatch.namespace
          metric_unit              = { for m in local.cloudwatch.metrics : m.name => m.unit }
          metric_declaration = [for k in sort(keys(local.cloudwatch.metrics)) : {
            source_labels    = ["job"]
            label_matcher    = "^${local.prometheus_job}$"
            dimensions       = local.cloudwatch.metrics[k].dimensions
            metric_selectors = ["^${local.cloudwatch.metrics[k].name}$"]
          }]
        }
      }
    }
  }
}

################################################################################
# Security group
################################################################################

resource "aws_security_group" "this" {
  #checkov:skip=CKV2_AWS_5:Attached to the instances by module.fleet's launch template (security_group_ids); checkov does not follow the group id into the nested module.
  name_prefix = "${var.name}-collectors-"
  description = "mirrorlake collectors: VXLAN from mirror sources, health checks from the NLB"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-collectors" })

  lifecycle {
    create_before_destroy = true

    precondition {
      condition     = local.gwlb || length(var.health_check_cidr_blocks) + length(var.health_check_security_group_ids) > 0
      error_message = "Allow the health port from the NLB: set health_check_cidr_blocks (the VPC CIDR) or health_check_security_group_ids, or every collector fails its health check."
    }

    # Behind an NLB the collectors see the mirrored ENIs' own addresses: without them, nothing is
    # admitted. (Behind a GWLB they see the GWLB's, admitted from gwlb_subnet_ids.)
    precondition {
      condition     = local.gwlb || length(var.mirror_source_cidr_blocks) > 0
      error_message = "mirror_source_cidr_blocks must hold at least one CIDR block with target_kind = \"nlb\" (the NLB preserves the sources' addresses: UDP 4789 is admitted from these blocks only)."
    }

    # A rule for a block that a GWLB subnet's rule already covers on the same port is refused by
    # EC2 (duplicate) at apply: the GWLB's subnets are admitted on their own.
    precondition {
      condition     = length(setintersection(toset(local.gwlb_cidr_blocks), toset(concat(var.health_check_cidr_blocks, var.monitoring_cidr_blocks)))) == 0
      error_message = "health_check_cidr_blocks and monitoring_cidr_blocks must not repeat the block of a GWLB subnet (gwlb_subnet_ids): with target_kind = \"gwlb\" those are admitted on the health port already."
    }

    # Behind a GWLB everything arrives as GENEVE on 6081: a config of the caller's without
    # geneve_listen would leave the collectors deaf (healthy, receiving nothing).
    precondition {
      condition     = !local.gwlb || var.collector_config_toml == null || can(regex("(?m)^geneve_listen\\s*=", coalesce(var.collector_config_toml, "-")))
      error_message = "collector_config_toml must set geneve_listen (for example geneve_listen = \"0.0.0.0:6081\") with target_kind = \"gwlb\": the GWLB sends everything as GENEVE to UDP 6081."
    }

    precondition {
      condition     = !local.cluster || length(var.kafka_cidr_blocks) + length(var.kafka_security_group_ids) > 0
      error_message = "Allow egress to the MSK brokers: set kafka_cidr_blocks or kafka_security_group_ids."
    }

    precondition {
      condition     = !local.cluster || (var.kafka_bootstrap_brokers != null && var.msk_cluster_arn != null)
      error_message = "mode = \"cluster\" needs kafka_bootstrap_brokers and msk_cluster_arn (the msk module's bootstrap_brokers_sasl_iam and cluster_arn); for a collectors-only deployment set mode = \"single_node\" and lake_bucket_name."
    }

    precondition {
      condition     = local.cluster || var.lake_bucket_name != null
      error_message = "mode = \"single_node\" needs lake_bucket_name (and lake_prefix, lake_kms_key_arn: the lake module's outputs): the collectors write the lake themselves."
    }

    # The disk spool (both modes) lives on the root volume (/var/lib/mirrorlake/spool): the volume
    # must hold spool_max_bytes plus the OS, its logs and the agents (8 GiB), or a long MSK outage
    # (cluster) or S3 outage (single node) fills the disk before the spool reaches its bound. Not
    # checked when collector_config_toml replaces the rendered config (its [spool], if any, is the
    # caller's).
    precondition {
      condition     = var.collector_config_toml != null || var.root_volume_size_gb >= ceil(var.spool_max_bytes / 1073741824) + 8
      error_message = "root_volume_size_gb (${var.root_volume_size_gb}) must be at least the spool's spool_max_bytes in GiB + 8 (${ceil(var.spool_max_bytes / 1073741824) + 8}): the spool is on the root volume, next to the OS."
    }

    # After SIGTERM the collector receives for drain_ms (= the deregistration delay), then flushes:
    # systemd must not kill it (TimeoutStopSec = drain_timeout_seconds) before it could flush.
    precondition {
      condition     = var.drain_timeout_seconds >= var.deregistration_delay_seconds + 30
      error_message = "drain_timeout_seconds (${var.drain_timeout_seconds}) must be at least deregistration_delay_seconds + 30 (${var.deregistration_delay_seconds + 30}): the collector keeps receiving for the deregistration delay after SIGTERM (drain_ms), then flushes."
    }
  }
}

# The NLB preserves the client IP for UDP: mirrored packets arrive from the source ENIs' addresses.
# Every block may be IPv4 or IPv6 (a rule takes one of cidr_ipv4 / cidr_ipv6). Behind a GWLB these
# rules are only needed while the collectors are also behind an NLB (a migration): leave
# mirror_source_cidr_blocks empty otherwise.
resource "aws_vpc_security_group_ingress_rule" "vxlan" {
  for_each = toset(var.mirror_source_cidr_blocks)

  security_group_id = aws_security_group.this.id
  description       = "VXLAN (Traffic Mirroring) from mirror sources"
  ip_protocol       = "udp"
  from_port         = var.vxlan_port
  to_port           = var.vxlan_port
  cidr_ipv4         = strcontains(each.value, ":") ? null : each.value
  cidr_ipv6         = strcontains(each.value, ":") ? each.value : null

  tags = var.tags
}

# target_kind = "gwlb": the GWLB sends GENEVE and its health checks from its own addresses in its
# subnets (cross-zone: any of them to any collector). The rules are keyed by subnet id, known at
# plan time even when the subnets' blocks are not.
data "aws_subnet" "gwlb" {
  for_each = toset(local.gwlb_subnet_ids)

  id = each.value
}

resource "aws_vpc_security_group_ingress_rule" "gwlb_geneve" {
  for_each = data.aws_subnet.gwlb

  security_group_id = aws_security_group.this.id
  description       = "GENEVE (mirror VXLAN inside) from the Gateway Load Balancer in ${each.key}"
  ip_protocol       = "udp"
  from_port         = local.geneve_port
  to_port           = local.geneve_port
  cidr_ipv4         = each.value.cidr_block

  tags = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "gwlb_health" {
  for_each = data.aws_subnet.gwlb

  security_group_id = aws_security_group.this.id
  description       = "GWLB HTTP health checks from ${each.key}"
  ip_protocol       = "tcp"
  from_port         = var.health_check_port
  to_port           = var.health_check_port
  cidr_ipv4         = each.value.cidr_block

  tags = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "health_cidr" {
  for_each = toset(var.health_check_cidr_blocks)

  security_group_id = aws_security_group.this.id
  description       = "NLB HTTP health checks"
  ip_protocol       = "tcp"
  from_port         = var.health_check_port
  to_port           = var.health_check_port
  cidr_ipv4         = strcontains(each.value, ":") ? null : each.value
  cidr_ipv6         = strcontains(each.value, ":") ? each.value : null

  tags = var.tags
}

# The health port also serves /metrics (Prometheus): beyond the NLB, only the monitoring networks.
# The CloudWatch agent scrapes 127.0.0.1 and needs no rule.
resource "aws_vpc_security_group_ingress_rule" "metrics_cidr" {
  for_each = toset([for c in var.monitoring_cidr_blocks : c if !contains(var.health_check_cidr_blocks, c)])

  security_group_id = aws_security_group.this.id
  description       = "Prometheus scrapes of /metrics from the monitoring networks"
  ip_protocol       = "tcp"
  from_port         = var.health_check_port
  to_port           = var.health_check_port
  cidr_ipv4         = strcontains(each.value, ":") ? null : each.value
  cidr_ipv6         = strcontains(each.value, ":") ? each.value : null

  tags = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "health_sg" {
  # count, not for_each: the group ids are often unknown until apply.
  count = length(var.health_check_security_group_ids)

  security_group_id            = aws_security_group.this.id
  description                  = "NLB HTTP health checks"
  ip_protocol                  = "tcp"
  from_port                    = var.health_check_port
  to_port                      = var.health_check_port
  referenced_security_group_id = var.health_check_security_group_ids[count.index]

  tags = var.tags
}

# HTTPS to AWS APIs (SSM, CloudWatch, S3, Auto Scaling) and the binary download.
resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.this.id
  description       = "HTTPS to AWS APIs and the artifact store"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "kafka_cidr" {
  for_each = toset(local.cluster ? var.kafka_cidr_blocks : [])

  security_group_id = aws_security_group.this.id
  description       = "MSK brokers (IAM auth over TLS)"
  ip_protocol       = "tcp"
  from_port         = 9098
  to_port           = 9098
  cidr_ipv4         = each.value

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "kafka_sg" {
  # count, not for_each: the group ids are often unknown until apply.
  count = local.cluster ? length(var.kafka_security_group_ids) : 0

  security_group_id            = aws_security_group.this.id
  description                  = "MSK brokers (IAM auth over TLS)"
  ip_protocol                  = "tcp"
  from_port                    = 9098
  to_port                      = 9098
  referenced_security_group_id = var.kafka_security_group_ids[count.index]

  tags = var.tags
}

################################################################################
# CloudWatch: the log group carrying the drop counters (EMF records, one per series and scrape;
# they also hold the InstanceId, so Logs Insights can tell which collector dropped)
################################################################################

resource "aws_cloudwatch_log_group" "prometheus" {
  #checkov:skip=CKV_AWS_158:Encryption with a customer key is opt-in through metrics_log_kms_key_arn; the records hold counter values and instance ids only, and CloudWatch Logs encrypts at rest by default.
  name              = "/mirrorlake/${var.name}/collectors/prometheus"
  retention_in_days = var.metrics_log_retention_days
  kms_key_id        = var.metrics_log_kms_key_arn

  tags = var.tags
}

################################################################################
# IAM: the collectors' own permissions, on the fleet's instance role
################################################################################

# MSK IAM (kafka-cluster:*), what the collector's Kafka requests need and nothing more: connect
# and describe the cluster; InitProducerId of the idempotent producer (WriteDataIdempotently, on the
# cluster); on the topic only, the start-up check (metadata: DescribeTopic; DescribeConfigs of
# max.message.bytes: DescribeTopicDynamicConfiguration), its creation when absent (CreateTopic:
# the first collector creates it with kafka_topic_partitions, the replication factor and a
# max.message.bytes that fits its messages; the aggregators may not create it, so they never
# create it with other settings) and Produce (WriteData).
#
# Single-node mode instead: what the lake writer (aggregator/lake/src/writer.rs, through
# object_store's BufWriter) sends and nothing more. A file is one PutObject, or a multipart upload
# (CreateMultipartUpload, UploadPart, CompleteMultipartUpload: all s3:PutObject) when larger than
# the write buffer; a file dropped unfinished (a failed write) aborts its upload
# (s3:AbortMultipartUpload). The collector never reads, lists or deletes lake objects (no
# GetObject, ListBucket, DeleteObject: compaction is another program with its own role). SSE-KMS:
# GenerateDataKey for every new object, Decrypt for the parts of a multipart upload, through S3
# only. No kafka-cluster action at all.
resource "aws_iam_role_policy" "this" {
  name = "mirrorlake-collector"
  role = module.fleet.iam_role_name

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      local.cluster ? [
        {
          Sid      = "MskConnect"
          Effect   = "Allow"
          Action   = ["kafka-cluster:Connect", "kafka-cluster:DescribeCluster", "kafka-cluster:WriteDataIdempotently"]
          Resource = [var.msk_cluster_arn]
        },
        {
          Sid      = "MskProduceToTopic"
          Effect   = "Allow"
          Action   = ["kafka-cluster:DescribeTopic", "kafka-cluster:DescribeTopicDynamicConfiguration", "kafka-cluster:CreateTopic", "kafka-cluster:WriteData"]
          Resource = [local.kafka_topic_arn]
        },
        ] : [
        {
          Sid      = "LakeWriteObjects"
          Effect   = "Allow"
          Action   = ["s3:PutObject", "s3:AbortMultipartUpload"]
          Resource = ["${local.lake_bucket_arn}/${var.lake_prefix}/*"]
        },
      ],
      !local.cluster && var.lake_kms_key_arn != null ? [
        {
          Sid      = "LakeKmsViaS3"
          Effect   = "Allow"
          Action   = ["kms:GenerateDataKey", "kms:Decrypt"]
          Resource = [var.lake_kms_key_arn]
          Condition = {
            StringEquals = { "kms:ViaService" = "s3.${local.region}.amazonaws.com" }
          }
        },
      ] : [],
      module.fleet.instance_policy_statements,
    )
  })
}

################################################################################
# Launch template, Auto Scaling group, lifecycle hook, instance role (modules/fleet)
################################################################################

module "fleet" {
  source = "../fleet"

  name          = var.name
  role          = "collector"
  subnet_ids    = var.subnet_ids
  instance_type = var.instance_type
  architecture  = var.architecture
  ami_id        = var.ami_id
  tags          = var.tags

  security_group_ids         = concat([aws_security_group.this.id], var.additional_security_group_ids)
  tag_network_interfaces     = true
  root_volume_size_gb        = var.root_volume_size_gb
  ebs_kms_key_arn            = var.ebs_kms_key_arn
  enable_detailed_monitoring = var.enable_detailed_monitoring

  min_size          = var.min_size
  max_size          = var.max_size
  desired_capacity  = var.desired_capacity
  target_group_arns = var.target_group_arns
  # EC2, never ELB. /healthz (= /readyz) is readiness: a collector whose Kafka (cluster mode) or
  # S3 (single-node mode) is away or slow answers 200 while it spools to disk, and 503 only while
  # it drains after SIGTERM or when it drops batches (its spool full; or no spool, when
  # collector_config_toml has no [spool], and the sink behind). That is the NLB's check: it routes
  # new flows around such a collector. /livez (200 while the receive threads run, whatever Kafka
  # or S3 do) is liveness, for a supervisor. ELB health checks would have the ASG replace every
  # collector at once when a long MSK or S3 outage fills their spools and turns them all 503, an
  # outage downstream that new instances cannot fix; with EC2 checks it replaces only instances
  # EC2 reports impaired, and a process that exits is restarted by systemd (Restart=always).
  health_check_type                 = "EC2"
  health_check_grace_period_seconds = var.health_check_grace_period_seconds
  default_instance_warmup_seconds   = 120
  enabled_metrics = [
    "GroupDesiredCapacity",
    "GroupInServiceInstances",
    "GroupPendingInstances",
    "GroupTerminatingInstances",
    "GroupTotalInstances",
  ]
  # A new launch template version rolls the fleet a third at a time.
  instance_refresh_min_healthy_percentage = 66

  binary_url    = var.collector_binary_url
  binary_s3_uri = var.collector_binary_s3_uri
  binary_sha256 = var.collector_binary_sha256
  config_toml   = local.collector_toml
  service_unit = templatefile("${path.module}/templates/mirrorlake-collector.service.tftpl", {
    log_level             = var.log_level
    region                = local.region
    drain_timeout_seconds = var.drain_timeout_seconds
    single_node           = !local.cluster
  })

  extra_files = [
    {
      # The collector asks for a large SO_RCVBUF; the kernel silently caps it at rmem_max.
      path        = "/etc/sysctl.d/90-mirrorlake.conf"
      permissions = "0644"
      content     = "net.core.rmem_max = ${var.socket_receive_buffer_bytes}\nnet.core.rmem_default = 4194304\nnet.core.netdev_max_backlog = 250000\n"
    },
    {
      path        = local.prometheus_config_path
      permissions = "0644"
      content     = yamlencode(local.prometheus_config)
    },
  ]
  setup_commands = [["sysctl", "--system"]]

  cloudwatch_namespace = local.cloudwatch.namespace
  cloudwatch_logs      = local.cloudwatch_agent_logs
  cloudwatch_metrics_collected = {
    # ENA counters: packets the instance dropped because it exceeded its PPS/bandwidth allowance.
    ethtool = {
      interface_include = ["eth0", "ens5"]
      metrics_include   = ["bw_in_allowance_exceeded", "pps_allowance_exceeded", "conntrack_allowance_exceeded"]
    }
  }

  deregistration_delay_seconds             = var.deregistration_delay_seconds
  drain_timeout_seconds                    = var.drain_timeout_seconds
  lifecycle_hook_heartbeat_timeout_seconds = var.lifecycle_hook_heartbeat_timeout_seconds
}

resource "aws_autoscaling_policy" "cpu" {
  count = var.cpu_target_percent == null ? 0 : 1

  name                   = "${var.name}-collector-cpu"
  autoscaling_group_name = module.fleet.autoscaling_group_name
  policy_type            = "TargetTrackingScaling"

  target_tracking_configuration {
    predefined_metric_specification {
      predefined_metric_type = "ASGAverageCPUUtilization"
    }
    target_value = var.cpu_target_percent
  }
}

################################################################################
# Resources that moved into modules/fleet: keep existing deployments in place.
################################################################################

moved {
  from = aws_iam_role.this
  to   = module.fleet.aws_iam_role.this
}

moved {
  from = aws_iam_role_policy_attachment.managed
  to   = module.fleet.aws_iam_role_policy_attachment.managed
}

moved {
  from = aws_iam_instance_profile.this
  to   = module.fleet.aws_iam_instance_profile.this
}

moved {
  from = aws_launch_template.this
  to   = module.fleet.aws_launch_template.this
}

moved {
  from = aws_autoscaling_group.this
  to   = module.fleet.aws_autoscaling_group.this
}

moved {
  from = aws_autoscaling_lifecycle_hook.drain
  to   = module.fleet.aws_autoscaling_lifecycle_hook.drain
}
