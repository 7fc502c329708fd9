# Aggregator fleet: consumes the packets topic from MSK and writes Hive-partitioned Parquet to the
# lake bucket. Least privilege: read one topic as one consumer group, write below one prefix, use
# the bucket key only through S3.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

data "aws_ssm_parameter" "al2023" {
  count = var.ami_id == null ? 1 : 0

  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-${var.architecture}"
}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id

  service    = "mirrorlake-aggregator.service"
  asg_name   = "${var.name}-aggregators"
  hook_name  = "${var.name}-aggregator-drain"
  ami_id     = var.ami_id != null ? var.ami_id : data.aws_ssm_parameter.al2023[0].insecure_value
  binary_uri = coalesce(var.aggregator_binary_url, var.aggregator_binary_s3_uri, "unset")

  is_graviton_type = can(regex("^[a-z]+[0-9]+g", var.instance_type))

  # arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/UUID -> topic/NAME/UUID/TOPIC and group/NAME/UUID/GROUP
  kafka_topic_arn = "${replace(var.msk_cluster_arn, ":cluster/", ":topic/")}/${var.kafka_topic}"
  kafka_group_arn = "${replace(var.msk_cluster_arn, ":cluster/", ":group/")}/${var.kafka_consumer_group}"

  bucket_arn           = "arn:${local.partition}:s3:::${var.lake_bucket_name}"
  s3_binary_object_arn = var.aggregator_binary_s3_uri == null ? null : "arn:${local.partition}:s3:::${trimprefix(var.aggregator_binary_s3_uri, "s3://")}"

  aggregator_toml = var.aggregator_config_toml != null ? var.aggregator_config_toml : templatefile("${path.module}/templates/aggregator.toml.tftpl", {
    kafka_topic             = var.kafka_topic
    kafka_consumer_group    = var.kafka_consumer_group
    kafka_bootstrap_brokers = var.kafka_bootstrap_brokers
    fetch_max_bytes         = var.kafka_fetch_max_bytes
    lake_bucket_name        = var.lake_bucket_name
    lake_prefix             = var.lake_prefix
    region                  = local.region
  })

  cloudwatch_agent_config = {
    agent = { metrics_collection_interval = 60 }
    metrics = {
      namespace = "mirrorlake"
      append_dimensions = {
        AutoScalingGroupName = "$${aws:AutoScalingGroupName}"
        InstanceId           = "$${aws:InstanceId}"
      }
      aggregation_dimensions = [["AutoScalingGroupName"]]
      metrics_collected = {
        mem  = { measurement = ["mem_used_percent"] }
        disk = { measurement = ["used_percent"], resources = ["/"] }
      }
    }
  }

  cloud_config = {
    write_files = [
      {
        path        = "/etc/mirrorlake/aggregator.toml"
        permissions = "0644"
        owner       = "root:root"
        content     = local.aggregator_toml
      },
      {
        path        = "/etc/systemd/system/${local.service}"
        permissions = "0644"
        content = templatefile("${path.module}/templates/mirrorlake-aggregator.service.tftpl", {
          log_level             = var.log_level
          region                = local.region
          drain_timeout_seconds = var.drain_timeout_seconds
        })
      },
      {
        path        = "/usr/local/sbin/mirrorlake-install-binary"
        permissions = "0755"
        content     = file("${path.module}/templates/install-binary.sh")
      },
      {
        path        = "/usr/local/sbin/mirrorlake-lifecycle-watch"
        permissions = "0755"
        content = templatefile("${path.module}/templates/lifecycle-watch.sh.tftpl", {
          service                      = local.service
          region                       = local.region
          asg_name                     = local.asg_name
          hook_name                    = local.hook_name
          deregistration_delay_seconds = 0
        })
      },
      {
        path        = "/etc/systemd/system/mirrorlake-lifecycle-watch.service"
        permissions = "0644"
        content     = templatefile("${path.module}/templates/mirrorlake-lifecycle-watch.service.tftpl", { service = local.service })
      },
      {
        path        = "/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json"
        permissions = "0644"
        content     = jsonencode(local.cloudwatch_agent_config)
      },
    ]
    packages = ["amazon-cloudwatch-agent"]
    runcmd = [
      ["/usr/local/sbin/mirrorlake-install-binary", local.binary_uri, "/usr/local/bin/mirrorlake-aggregator", "mirrorlake-aggregator", coalesce(var.aggregator_binary_sha256, "-"), local.region],
      ["systemctl", "daemon-reload"],
      ["systemctl", "enable", "--now", local.service, "mirrorlake-lifecycle-watch.service"],
      ["/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl", "-a", "fetch-config", "-m", "ec2", "-s", "-c", "file:/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json"],
    ]
  }

  user_data = "#cloud-config\n${yamlencode(local.cloud_config)}"
}

################################################################################
# Security group: no ingress at all (operators use SSM Session Manager).
################################################################################

resource "aws_security_group" "this" {
  name_prefix = "${var.name}-aggregators-"
  description = "mirrorlake aggregators: egress to MSK and AWS APIs only"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-aggregators" })

  lifecycle {
    create_before_destroy = true
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
# IAM
################################################################################

resource "aws_iam_role" "this" {
  name_prefix = "${var.name}-aggregator-"
  description = "mirrorlake aggregator instances"

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "managed" {
  for_each = toset(["AmazonSSMManagedInstanceCore", "CloudWatchAgentServerPolicy"])

  role       = aws_iam_role.this.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/${each.value}"
}

resource "aws_iam_role_policy" "this" {
  name = "mirrorlake-aggregator"
  role = aws_iam_role.this.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "MskConnect"
          Effect   = "Allow"
          Action   = ["kafka-cluster:Connect"]
          Resource = [var.msk_cluster_arn]
        },
        {
          Sid      = "MskReadTopic"
          Effect   = "Allow"
          Action   = ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"]
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
        {
          Sid      = "CompleteOwnLifecycleAction"
          Effect   = "Allow"
          Action   = ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"]
          Resource = ["arn:${local.partition}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/${local.asg_name}"]
        },
      ],
      local.s3_binary_object_arn == null ? [] : [
        {
          Sid      = "DownloadAggregatorBinary"
          Effect   = "Allow"
          Action   = ["s3:GetObject"]
          Resource = [local.s3_binary_object_arn]
        },
      ],
    )
  })
}

resource "aws_iam_instance_profile" "this" {
  name_prefix = "${var.name}-aggregator-"
  role        = aws_iam_role.this.name

  tags = var.tags
}

################################################################################
# Launch template and Auto Scaling group
################################################################################

resource "aws_launch_template" "this" {
  name_prefix            = "${var.name}-aggregator-"
  description            = "mirrorlake aggregator"
  image_id               = local.ami_id
  instance_type          = var.instance_type
  ebs_optimized          = true
  update_default_version = true
  user_data              = base64encode(local.user_data)
  vpc_security_group_ids = concat([aws_security_group.this.id], var.additional_security_group_ids)

  iam_instance_profile {
    arn = aws_iam_instance_profile.this.arn
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  monitoring {
    enabled = var.enable_detailed_monitoring
  }

  block_device_mappings {
    device_name = "/dev/xvda"

    ebs {
      volume_type           = "gp3"
      volume_size           = var.root_volume_size_gb
      encrypted             = true
      kms_key_id            = var.ebs_kms_key_arn
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = "${var.name}-aggregator", "mirrorlake:role" = "aggregator" })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(var.tags, { Name = "${var.name}-aggregator" })
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = (var.aggregator_binary_url == null) != (var.aggregator_binary_s3_uri == null)
      error_message = "Set exactly one of aggregator_binary_url and aggregator_binary_s3_uri."
    }

    precondition {
      condition     = local.is_graviton_type == (var.architecture == "arm64")
      error_message = "instance_type ${var.instance_type} does not match architecture ${var.architecture}."
    }

    precondition {
      condition     = length(local.user_data) <= 16384
      error_message = "Rendered user data exceeds the EC2 limit of 16 KiB."
    }
  }
}

resource "aws_autoscaling_group" "this" {
  name                      = local.asg_name
  vpc_zone_identifier       = var.subnet_ids
  min_size                  = var.min_size
  max_size                  = var.max_size
  desired_capacity          = coalesce(var.desired_capacity, var.min_size)
  health_check_type         = "EC2"
  health_check_grace_period = 300
  wait_for_capacity_timeout = "15m"

  enabled_metrics = [
    "GroupDesiredCapacity",
    "GroupInServiceInstances",
    "GroupTerminatingInstances",
    "GroupTotalInstances",
  ]

  launch_template {
    id      = aws_launch_template.this.id
    version = aws_launch_template.this.latest_version
  }

  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 50
    }
  }

  dynamic "tag" {
    for_each = merge(var.tags, { Name = "${var.name}-aggregator" })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    precondition {
      condition     = var.min_size <= var.max_size && coalesce(var.desired_capacity, var.min_size) <= var.max_size && coalesce(var.desired_capacity, var.min_size) >= var.min_size
      error_message = "Need min_size <= desired_capacity <= max_size."
    }

    precondition {
      condition     = length(var.kafka_cidr_blocks) + length(var.kafka_security_group_ids) > 0
      error_message = "Allow egress to the MSK brokers: set kafka_cidr_blocks or kafka_security_group_ids."
    }

    ignore_changes = [desired_capacity]
  }
}

resource "aws_autoscaling_lifecycle_hook" "drain" {
  name                   = local.hook_name
  autoscaling_group_name = aws_autoscaling_group.this.name
  lifecycle_transition   = "autoscaling:EC2_INSTANCE_TERMINATING"
  heartbeat_timeout      = var.lifecycle_hook_heartbeat_timeout_seconds
  default_result         = "CONTINUE"

  lifecycle {
    precondition {
      condition     = var.lifecycle_hook_heartbeat_timeout_seconds >= var.drain_timeout_seconds + 30
      error_message = "lifecycle_hook_heartbeat_timeout_seconds must be at least drain_timeout_seconds + 30."
    }
  }
}
