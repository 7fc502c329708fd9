# Aggregator fleet: consumes the packets topic from MSK and writes Hive-partitioned Parquet to the
# lake bucket. The shared fleet module runs the instances (launch template + cloud-init, ASG,
# termination lifecycle hook, instance role); this module adds least privilege: read one topic as
# one consumer group, write below one prefix, use the bucket key only through S3.

data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name

  # arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/UUID -> topic/NAME/UUID/TOPIC and group/NAME/UUID/GROUP
  kafka_topic_arn = "${replace(var.msk_cluster_arn, ":cluster/", ":topic/")}/${var.kafka_topic}"
  kafka_group_arn = "${replace(var.msk_cluster_arn, ":cluster/", ":group/")}/${var.kafka_consumer_group}"

  bucket_arn = "arn:${local.partition}:s3:::${var.lake_bucket_name}"
  asg_name   = "${var.name}-aggregators"

  # Follower fetching: the unit's ExecStartPre writes client.rack = the instance's AZ ID.
  client_rack_files = var.rack_aware_fetching ? [
    {
      path        = "/usr/local/sbin/mirrorlake-client-rack"
      permissions = "0755"
      content     = file("${path.module}/templates/client-rack.sh")
    },
  ] : []

  # Compaction (mirrorlake-aggregator compact) on a timer, run by one elected aggregator.
  compact_files = var.compact_interval_minutes == null ? [] : [
    {
      path        = "/etc/systemd/system/mirrorlake-compact.service"
      permissions = "0644"
      content = templatefile("${path.module}/templates/mirrorlake-compact.service.tftpl", {
        asg_name         = local.asg_name
        settle_minutes   = var.compact_settle_minutes
        target_file_mb   = var.compact_target_file_mb
        all_files        = var.compact_all_files
        log_level        = var.log_level
        lake_bucket_name = var.lake_bucket_name
        lake_prefix      = var.lake_prefix
        region           = local.region
      })
    },
    {
      path        = "/etc/systemd/system/mirrorlake-compact.timer"
      permissions = "0644"
      content     = templatefile("${path.module}/templates/mirrorlake-compact.timer.tftpl", { interval_minutes = var.compact_interval_minutes })
    },
    {
      path        = "/usr/local/sbin/mirrorlake-compact-elected"
      permissions = "0755"
      content     = templatefile("${path.module}/templates/compact-elected.sh.tftpl", { asg_name = local.asg_name, region = local.region })
    },
  ]

  aggregator_toml = var.aggregator_config_toml != null ? var.aggregator_config_toml : templatefile("${path.module}/templates/aggregator.toml.tftpl", {
    kafka_topic             = var.kafka_topic
    kafka_consumer_group    = var.kafka_consumer_group
    kafka_bootstrap_brokers = var.kafka_bootstrap_brokers
    fetch_max_bytes         = var.kafka_fetch_max_bytes
    lake_bucket_name        = var.lake_bucket_name
    lake_prefix             = var.lake_prefix
  })
}

################################################################################
# Security group: no ingress at all (operators use SSM Session Manager).
################################################################################

resource "aws_security_group" "this" {
  #checkov:skip=CKV2_AWS_5:Attached to the instances by module.fleet's launch template (security_group_ids); checkov does not follow the group id into the nested module.
  name_prefix = "${var.name}-aggregators-"
  description = "mirrorlake aggregators: egress to MSK and AWS APIs only"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-aggregators" })

  lifecycle {
    create_before_destroy = true

    precondition {
      condition     = length(var.kafka_cidr_blocks) + length(var.kafka_security_group_ids) > 0
      error_message = "Allow egress to the MSK brokers: set kafka_cidr_blocks or kafka_security_group_ids."
    }
  }
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.this.id
  description       = "HTTPS to S3, KMS, SSM, CloudWatch, Auto Scaling and the artifact store"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "kafka_cidr" {
  for_each = toset(var.kafka_cidr_blocks)

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
  count = length(var.kafka_security_group_ids)

  security_group_id            = aws_security_group.this.id
  description                  = "MSK brokers (IAM auth over TLS)"
  ip_protocol                  = "tcp"
  from_port                    = 9098
  to_port                      = 9098
  referenced_security_group_id = var.kafka_security_group_ids[count.index]

  tags = var.tags
}

################################################################################
# IAM: the aggregators' own permissions, on the fleet's instance role
################################################################################

# MSK IAM (kafka-cluster:*), what the aggregator's Kafka requests need and nothing more: connect
# and describe the cluster; on the topic only, the start-up check (metadata: DescribeTopic;
# DescribeConfigs of max.message.bytes: DescribeTopicDynamicConfiguration) and Fetch (ReadData);
# on its consumer group only, join/sync/heartbeat/commit (AlterGroup) and find the coordinator and
# fetch committed offsets (DescribeGroup). No CreateTopic: the first collector creates the topic
# with the rate-sized partitions; an aggregator never creates it and waits at start-up until it
# exists.
resource "aws_iam_role_policy" "this" {
  name = "mirrorlake-aggregator"
  role = module.fleet.iam_role_name

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "MskConnect"
          Effect   = "Allow"
          Action   = ["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"]
          Resource = [var.msk_cluster_arn]
        },
        {
          Sid      = "MskReadTopic"
          Effect   = "Allow"
          Action   = ["kafka-cluster:DescribeTopic", "kafka-cluster:DescribeTopicDynamicConfiguration", "kafka-cluster:ReadData"]
          Resource = [local.kafka_topic_arn]
        },
        {
          Sid      = "MskConsumerGroup"
          Effect   = "Allow"
          Action   = ["kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"]
          Resource = [local.kafka_group_arn]
        },
        {
          Sid      = "LakeWriteObjects"
          Effect   = "Allow"
          Action   = ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
          Resource = ["${local.bucket_arn}/${var.lake_prefix}/*"]
        },
        {
          # compact replaces small files by merged ones (and deletes its locks, journals and
          # staged files); a replayed Kafka range deletes what compact already merged. Versioned
          # (and Object Lock) buckets keep the deleted versions: a delete only adds a marker.
          Sid      = "LakeDeleteObjects"
          Effect   = "Allow"
          Action   = ["s3:DeleteObject"]
          Resource = ["${local.bucket_arn}/${var.lake_prefix}/*"]
        },
        {
          Sid      = "LakeListPrefix"
          Effect   = "Allow"
          Action   = ["s3:ListBucket"]
          Resource = [local.bucket_arn]
          Condition = {
            StringLike = { "s3:prefix" = ["${var.lake_prefix}/*", "${var.lake_prefix}/"] }
          }
        },
        {
          Sid      = "LakeKmsViaS3"
          Effect   = "Allow"
          Action   = ["kms:GenerateDataKey", "kms:Decrypt", "kms:Encrypt"]
          Resource = [var.lake_kms_key_arn]
          Condition = {
            StringEquals = { "kms:ViaService" = "s3.${local.region}.amazonaws.com" }
          }
        },
      ],
      var.compact_interval_minutes == null ? [] : [
        {
          # The compaction timer's election: which aggregators are InService. Describe calls of
          # Auto Scaling have no resource-level permissions: "*" is the only valid resource.
          Sid      = "CompactElection"
          Effect   = "Allow"
          Action   = ["autoscaling:DescribeAutoScalingGroups"]
          Resource = ["*"]
        },
      ],
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
  role          = "aggregator"
  subnet_ids    = var.subnet_ids
  instance_type = var.instance_type
  architecture  = var.architecture
  ami_id        = var.ami_id
  tags          = var.tags

  security_group_ids         = concat([aws_security_group.this.id], var.additional_security_group_ids)
  root_volume_size_gb        = var.root_volume_size_gb
  ebs_kms_key_arn            = var.ebs_kms_key_arn
  enable_detailed_monitoring = var.enable_detailed_monitoring

  min_size                                = var.min_size
  max_size                                = var.max_size
  desired_capacity                        = var.desired_capacity
  health_check_type                       = "EC2"
  health_check_grace_period_seconds       = 300
  enabled_metrics                         = ["GroupDesiredCapacity", "GroupInServiceInstances", "GroupTerminatingInstances", "GroupTotalInstances"]
  instance_refresh_min_healthy_percentage = 50

  binary_url    = var.aggregator_binary_url
  binary_s3_uri = var.aggregator_binary_s3_uri
  binary_sha256 = var.aggregator_binary_sha256
  config_toml   = local.aggregator_toml
  service_unit = templatefile("${path.module}/templates/mirrorlake-aggregator.service.tftpl", {
    log_level             = var.log_level
    region                = local.region
    drain_timeout_seconds = var.drain_timeout_seconds
    rack_aware_fetching   = var.rack_aware_fetching
  })

  extra_files    = concat(local.client_rack_files, local.compact_files)
  setup_commands = var.compact_interval_minutes == null ? [] : [["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", "mirrorlake-compact.timer"]]

  # No load balancer: the watcher stops the service as soon as termination starts.
  deregistration_delay_seconds             = 0
  drain_timeout_seconds                    = var.drain_timeout_seconds
  lifecycle_hook_heartbeat_timeout_seconds = var.lifecycle_hook_heartbeat_timeout_seconds
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
