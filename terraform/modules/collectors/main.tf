# Collector fleet: launch template + cloud-init, ASG registered with the mirror NLB's UDP target
# group, termination lifecycle hook for draining, security group and least-privilege IAM.

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

  service    = "mirrorlake-collector.service"
  asg_name   = "${var.name}-collectors"
  hook_name  = "${var.name}-collector-drain"
  ami_id     = var.ami_id != null ? var.ami_id : data.aws_ssm_parameter.al2023[0].insecure_value
  binary_uri = coalesce(var.collector_binary_url, var.collector_binary_s3_uri, "unset")

  # Graviton families carry a "g" right after the generation digit (c7gn, m7g, r8g, t4g).
  is_graviton_type = can(regex("^[a-z]+[0-9]+g", var.instance_type))

  # arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/UUID -> topic/NAME/UUID/TOPIC
  kafka_topic_arn = "${replace(var.msk_cluster_arn, ":cluster/", ":topic/")}/${var.kafka_topic}"

  s3_binary_object_arn = var.collector_binary_s3_uri == null ? null : "arn:${local.partition}:s3:::${trimprefix(var.collector_binary_s3_uri, "s3://")}"

  collector_toml = var.collector_config_toml != null ? var.collector_config_toml : templatefile("${path.module}/templates/collector.toml.tftpl", {
    vxlan_port                  = var.vxlan_port
    health_check_port           = var.health_check_port
    socket_receive_buffer_bytes = var.socket_receive_buffer_bytes
    kafka_topic                 = var.kafka_topic
    kafka_bootstrap_brokers     = var.kafka_bootstrap_brokers
    region                      = local.region
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
        # ENA counters: packets the instance dropped because it exceeded its PPS/bandwidth allowance.
        ethtool = {
          interface_include = ["eth0", "ens5"]
          metrics_include   = ["bw_in_allowance_exceeded", "pps_allowance_exceeded", "conntrack_allowance_exceeded"]
        }
      }
    }
  }

  cloud_config = {
    write_files = [
      {
        path        = "/etc/mirrorlake/collector.toml"
        permissions = "0644"
        owner       = "root:root"
        content     = local.collector_toml
      },
      {
        path        = "/etc/systemd/system/${local.service}"
        permissions = "0644"
        content = templatefile("${path.module}/templates/mirrorlake-collector.service.tftpl", {
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
          deregistration_delay_seconds = var.deregistration_delay_seconds
        })
      },
      {
        path        = "/etc/systemd/system/mirrorlake-lifecycle-watch.service"
        permissions = "0644"
        content     = templatefile("${path.module}/templates/mirrorlake-lifecycle-watch.service.tftpl", { service = local.service })
      },
      {
        # The collector asks for a large SO_RCVBUF; the kernel silently caps it at rmem_max.
        path        = "/etc/sysctl.d/90-mirrorlake.conf"
        permissions = "0644"
        content     = "net.core.rmem_max = ${var.socket_receive_buffer_bytes}\nnet.core.rmem_default = 4194304\nnet.core.netdev_max_backlog = 250000\n"
      },
      {
        path        = "/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json"
        permissions = "0644"
        content     = jsonencode(local.cloudwatch_agent_config)
      },
    ]
    packages = ["amazon-cloudwatch-agent"]
    runcmd = [
      ["sysctl", "--system"],
      ["/usr/local/sbin/mirrorlake-install-binary", local.binary_uri, "/usr/local/bin/mirrorlake-collector", "mirrorlake-collector", coalesce(var.collector_binary_sha256, "-"), local.region],
      ["systemctl", "daemon-reload"],
      ["systemctl", "enable", "--now", local.service, "mirrorlake-lifecycle-watch.service"],
      ["/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl", "-a", "fetch-config", "-m", "ec2", "-s", "-c", "file:/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json"],
    ]
  }

  user_data = "#cloud-config\n${yamlencode(local.cloud_config)}"
}

################################################################################
# Security group
################################################################################

resource "aws_security_group" "this" {
  name_prefix = "${var.name}-collectors-"
  description = "mirrorlake collectors: VXLAN from mirror sources, health checks from the NLB"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-collectors" })

  lifecycle {
    create_before_destroy = true
  }
}

# The NLB preserves the client IP for UDP: mirrored packets arrive from the source ENIs' addresses.
resource "aws_vpc_security_group_ingress_rule" "vxlan" {
  for_each = toset(var.mirror_source_cidr_blocks)

  security_group_id = aws_security_group.this.id
  description       = "VXLAN (Traffic Mirroring) from mirror sources"
  ip_protocol       = "udp"
  from_port         = var.vxlan_port
  to_port           = var.vxlan_port
  cidr_ipv4         = each.value

  tags = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "health_cidr" {
  for_each = toset(var.health_check_cidr_blocks)

  security_group_id = aws_security_group.this.id
  description       = "NLB HTTP health checks"
  ip_protocol       = "tcp"
  from_port         = var.health_check_port
  to_port           = var.health_check_port
  cidr_ipv4         = each.value

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
  name_prefix = "${var.name}-collector-"
  description = "mirrorlake collector instances"

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
  name = "mirrorlake-collector"
  role = aws_iam_role.this.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "MskConnect"
          Effect   = "Allow"
          Action   = ["kafka-cluster:Connect", "kafka-cluster:WriteDataIdempotently"]
          Resource = [var.msk_cluster_arn]
        },
        {
          Sid      = "MskProduceToTopic"
          Effect   = "Allow"
          Action   = ["kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"]
          Resource = [local.kafka_topic_arn]
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
          Sid      = "DownloadCollectorBinary"
          Effect   = "Allow"
          Action   = ["s3:GetObject"]
          Resource = [local.s3_binary_object_arn]
        },
      ],
    )
  })
}

resource "aws_iam_instance_profile" "this" {
  name_prefix = "${var.name}-collector-"
  role        = aws_iam_role.this.name

  tags = var.tags
}

################################################################################
# Launch template and Auto Scaling group
################################################################################

resource "aws_launch_template" "this" {
  name_prefix            = "${var.name}-collector-"
  description            = "mirrorlake collector"
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
    tags          = merge(var.tags, { Name = "${var.name}-collector", "mirrorlake:role" = "collector" })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(var.tags, { Name = "${var.name}-collector" })
  }

  tag_specifications {
    resource_type = "network-interface"
    tags          = merge(var.tags, { Name = "${var.name}-collector", "mirrorlake:role" = "collector" })
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = (var.collector_binary_url == null) != (var.collector_binary_s3_uri == null)
      error_message = "Set exactly one of collector_binary_url and collector_binary_s3_uri."
    }

    precondition {
      condition     = local.is_graviton_type == (var.architecture == "arm64")
      error_message = "instance_type ${var.instance_type} does not match architecture ${var.architecture} (Graviton types such as c7gn need arm64)."
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
  target_group_arns         = var.target_group_arns
  health_check_type         = "ELB"
  health_check_grace_period = var.health_check_grace_period_seconds
  default_instance_warmup   = 120
  wait_for_capacity_timeout = "15m"

  enabled_metrics = [
    "GroupDesiredCapacity",
    "GroupInServiceInstances",
    "GroupPendingInstances",
    "GroupTerminatingInstances",
    "GroupTotalInstances",
  ]

  launch_template {
    id      = aws_launch_template.this.id
    version = aws_launch_template.this.latest_version
  }

  # A new launch template version (binary URL, config, AMI) rolls the fleet, a third at a time,
  # each old instance draining through the lifecycle hook.
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 66
    }
  }

  dynamic "tag" {
    for_each = merge(var.tags, { Name = "${var.name}-collector" })
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
      condition     = length(var.health_check_cidr_blocks) + length(var.health_check_security_group_ids) > 0
      error_message = "Allow the health port from the NLB: set health_check_cidr_blocks (the VPC CIDR) or health_check_security_group_ids, or every collector fails its health check."
    }

    precondition {
      condition     = length(var.kafka_cidr_blocks) + length(var.kafka_security_group_ids) > 0
      error_message = "Allow egress to the MSK brokers: set kafka_cidr_blocks or kafka_security_group_ids."
    }

    # Target tracking owns desired_capacity once enabled.
    ignore_changes = [desired_capacity]
  }
}

resource "aws_autoscaling_lifecycle_hook" "drain" {
  name                   = local.hook_name
  autoscaling_group_name = aws_autoscaling_group.this.name
  lifecycle_transition   = "autoscaling:EC2_INSTANCE_TERMINATING"
  heartbeat_timeout      = var.lifecycle_hook_heartbeat_timeout_seconds
  # If the instance never reports back, terminate anyway: a stuck instance is worse than a lost flush.
  default_result = "CONTINUE"

  lifecycle {
    precondition {
      condition     = var.lifecycle_hook_heartbeat_timeout_seconds >= var.deregistration_delay_seconds + var.drain_timeout_seconds + 30
      error_message = "lifecycle_hook_heartbeat_timeout_seconds must be at least deregistration_delay_seconds + drain_timeout_seconds + 30 so a collector can drain and flush."
    }
  }
}

resource "aws_autoscaling_policy" "cpu" {
  count = var.cpu_target_percent == null ? 0 : 1

  name                   = "${var.name}-collector-cpu"
  autoscaling_group_name = aws_autoscaling_group.this.name
  policy_type            = "TargetTrackingScaling"

  target_tracking_configuration {
    predefined_metric_specification {
      predefined_metric_type = "ASGAverageCPUUtilization"
    }
    target_value = var.cpu_target_percent
  }
}
