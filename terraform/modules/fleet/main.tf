# One mirrorlake fleet: an Auto Scaling group of instances that each run one mirrorlake service
# (mirrorlake-<role>) from a downloaded binary, drain it through a termination lifecycle hook and
# report to CloudWatch through the agent. Shared by the collectors and aggregators modules, which
# add what differs: the security group and its rules, the role's own permissions, the service's
# config and unit.

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

  program    = "mirrorlake-${var.role}"
  service    = "${local.program}.service"
  asg_name   = "${var.name}-${var.role}s"
  hook_name  = "${var.name}-${var.role}-drain"
  ami_id     = var.ami_id != null ? var.ami_id : data.aws_ssm_parameter.al2023[0].insecure_value
  binary_uri = coalesce(var.binary_url, var.binary_s3_uri, "unset")

  # Graviton families carry a "g" right after the generation digit (c7gn, m7g, r8g, t4g).
  is_graviton_type = can(regex("^[a-z]+[0-9]+g", var.instance_type))

  s3_binary_object_arn = var.binary_s3_uri == null ? null : "arn:${local.partition}:s3:::${trimprefix(var.binary_s3_uri, "s3://")}"

  # What the instance role needs for this module's part of the job; the caller puts these
  # statements into its role policy next to its own.
  instance_policy_statements = concat(
    [
      {
        Sid      = "CompleteOwnLifecycleAction"
        Effect   = "Allow"
        Action   = ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"]
        Resource = ["arn:${local.partition}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/${local.asg_name}"]
      },
    ],
    local.s3_binary_object_arn == null ? [] : [
      {
        Sid      = "Download${title(var.role)}Binary"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = [local.s3_binary_object_arn]
      },
    ],
  )

  cloudwatch_agent_config = merge(
    {
      agent = { metrics_collection_interval = 60 }
      metrics = {
        namespace = var.cloudwatch_namespace
        append_dimensions = {
          AutoScalingGroupName = "$${aws:AutoScalingGroupName}"
          InstanceId           = "$${aws:InstanceId}"
        }
        aggregation_dimensions = [["AutoScalingGroupName"]]
        metrics_collected = merge(
          {
            mem  = { measurement = ["mem_used_percent"] }
            disk = { measurement = ["used_percent"], resources = ["/"] }
          },
          var.cloudwatch_metrics_collected,
        )
      }
    },
    var.cloudwatch_logs == null ? {} : { logs = var.cloudwatch_logs },
  )

  cloud_config = {
    write_files = concat(
      [
        {
          path        = "/etc/mirrorlake/${var.role}.toml"
          permissions = "0644"
          owner       = "root:root"
          content     = var.config_toml
        },
        {
          path        = "/etc/systemd/system/${local.service}"
          permissions = "0644"
          content     = var.service_unit
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
            behind_load_balancer         = length(var.target_group_arns) > 0
          })
        },
        {
          path        = "/etc/systemd/system/mirrorlake-lifecycle-watch.service"
          permissions = "0644"
          content     = templatefile("${path.module}/templates/mirrorlake-lifecycle-watch.service.tftpl", { service = local.service })
        },
      ],
      var.extra_files,
      [
        {
          path        = "/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json"
          permissions = "0644"
          content     = jsonencode(local.cloudwatch_agent_config)
        },
      ],
    )
    packages = ["amazon-cloudwatch-agent"]
    runcmd = concat(
      var.setup_commands,
      [
        ["/usr/local/sbin/mirrorlake-install-binary", local.binary_uri, "/usr/local/bin/${local.program}", local.program, coalesce(var.binary_sha256, "-"), local.region],
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", local.service, "mirrorlake-lifecycle-watch.service"],
        ["/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl", "-a", "fetch-config", "-m", "ec2", "-s", "-c", "file:/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json"],
      ],
    )
  }

  user_data = "#cloud-config\n${yamlencode(local.cloud_config)}"

  instance_tags = merge(var.tags, { Name = "${var.name}-${var.role}", "mirrorlake:role" = var.role })
}

################################################################################
# IAM: the instance role with the managed policies every fleet needs (SSM, CloudWatch agent).
# The caller attaches its own policy to iam_role_name, including instance_policy_statements.
################################################################################

resource "aws_iam_role" "this" {
  name_prefix = "${var.name}-${var.role}-"
  description = "mirrorlake ${var.role} instances"

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

resource "aws_iam_instance_profile" "this" {
  name_prefix = "${var.name}-${var.role}-"
  role        = aws_iam_role.this.name

  tags = var.tags
}

################################################################################
# Launch template and Auto Scaling group
################################################################################

resource "aws_launch_template" "this" {
  name_prefix            = "${var.name}-${var.role}-"
  description            = "mirrorlake ${var.role}"
  image_id               = local.ami_id
  instance_type          = var.instance_type
  ebs_optimized          = true
  update_default_version = true
  user_data              = base64encode(local.user_data)
  vpc_security_group_ids = var.security_group_ids

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
    tags          = local.instance_tags
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(var.tags, { Name = "${var.name}-${var.role}" })
  }

  # Tagged ENIs (mirrorlake:role) let enrollment and mirror-sessions recognise them at plan time.
  dynamic "tag_specifications" {
    for_each = var.tag_network_interfaces ? [1] : []
    content {
      resource_type = "network-interface"
      tags          = local.instance_tags
    }
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = (var.binary_url == null) != (var.binary_s3_uri == null)
      error_message = "Set exactly one of ${var.role}_binary_url and ${var.role}_binary_s3_uri."
    }

    precondition {
      condition     = local.is_graviton_type == (var.architecture == "arm64")
      error_message = "instance_type ${var.instance_type} does not match architecture ${var.architecture} (Graviton types such as c7gn need arm64)."
    }

    precondition {
      condition     = strcontains(var.service_unit, "TimeoutStopSec=${var.drain_timeout_seconds}\n")
      error_message = "service_unit must stop the service within drain_timeout_seconds (TimeoutStopSec=${var.drain_timeout_seconds}): the lifecycle hook's heartbeat timeout is checked against it."
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
  target_group_arns         = length(var.target_group_arns) == 0 ? null : var.target_group_arns
  health_check_type         = var.health_check_type
  health_check_grace_period = var.health_check_grace_period_seconds
  default_instance_warmup   = var.default_instance_warmup_seconds
  wait_for_capacity_timeout = "15m"

  enabled_metrics = var.enabled_metrics

  launch_template {
    id      = aws_launch_template.this.id
    version = aws_launch_template.this.latest_version
  }

  # A new launch template version (binary URL, config, AMI) rolls the fleet, each old instance
  # draining through the lifecycle hook.
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = var.instance_refresh_min_healthy_percentage
    }
  }

  dynamic "tag" {
    for_each = merge(var.tags, { Name = "${var.name}-${var.role}" })
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

    # Scaling policies (or operators) own desired_capacity after creation.
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
      error_message = "lifecycle_hook_heartbeat_timeout_seconds (${var.lifecycle_hook_heartbeat_timeout_seconds}) must be at least deregistration_delay_seconds + drain_timeout_seconds + 30 (${var.deregistration_delay_seconds + var.drain_timeout_seconds + 30}) so a ${var.role} can drain and flush."
    }
  }
}
