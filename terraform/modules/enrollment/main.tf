# Fleet-wide enrollment: the mirrorlake-enroll Lambda (custom runtime) keeps one mirror session per
# ENI of the instances carrying the select tags, on EC2 "running" events (fast path: that instance)
# and on a schedule (full reconcile, repairs drift). Failures are CloudWatch metrics (EMF lines
# from the function) with an alarm, plus an alarm on the function's own errors.
#
# IAM is least privilege: only the mirror-session calls the service makes. Creation is limited to
# our target and filter and to sessions tagged mirrorlake:owner = deployment at creation; deletion
# to sessions carrying that tag. The three Describe calls do not support resource-level
# permissions in EC2 (they must be granted on "*").
#
# Member accounts and other regions (member_role_arns, organization_role_name, regions): the
# function finds the target and filter there by their owner tag; modules/ec2-policy/main.tf holds
# those statements, shared with the enrollment-member module (the role each member account
# provides). The function role may then assume exactly the listed roles (and, with an
# Organization role name, that name in any account) and list the Organization's accounts. STS
# GetCallerIdentity, which it calls to know its own account, needs no permission.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id

  function_name  = "${var.name}-enroll"
  log_group_name = "/aws/lambda/${local.function_name}"
  ec2_arn        = "arn:${local.partition}:ec2:${local.region}:${local.account_id}"
  session_arns   = "${local.ec2_arn}:traffic-mirror-session/*"
  owner_tag_key  = "mirrorlake:owner"

  # Regions of the function's own account beyond its primary one (where the target is explicit);
  # the binary drops the primary region from MIRRORLAKE_ENROLL_REGIONS the same way.
  extra_regions = [for r in distinct(var.regions) : r if r != local.region]

  # The binary reads the same settings as its CLI flags from these variables.
  environment = merge(
    {
      MIRRORLAKE_ENROLL_TARGET_ID      = var.traffic_mirror_target_id
      MIRRORLAKE_ENROLL_FILTER_ID      = var.traffic_mirror_filter_id
      MIRRORLAKE_ENROLL_SELECT_TAGS    = join(",", [for k in sort(keys(var.select_tags)) : "${k}=${var.select_tags[k]}"])
      MIRRORLAKE_ENROLL_COLLECTOR_TAG  = "${var.collector_tag.key}=${var.collector_tag.value}"
      MIRRORLAKE_ENROLL_DEPLOYMENT     = var.deployment
      MIRRORLAKE_ENROLL_SESSION_NUMBER = tostring(var.session_number)
      MIRRORLAKE_LOG                   = "info"
    },
    length(var.vpc_ids) == 0 ? {} : { MIRRORLAKE_ENROLL_VPC_IDS = join(",", var.vpc_ids) },
    length(var.subnet_ids) == 0 ? {} : { MIRRORLAKE_ENROLL_SUBNET_IDS = join(",", var.subnet_ids) },
    length(var.vni_overrides) == 0 ? {} : { MIRRORLAKE_ENROLL_VNIS = join(",", [for k in sort(keys(var.vni_overrides)) : "${k}=${var.vni_overrides[k]}"]) },
    var.packet_length == null ? {} : { MIRRORLAKE_ENROLL_PACKET_LENGTH = tostring(var.packet_length) },
    var.unsupported_instance_types == null ? {} : { MIRRORLAKE_ENROLL_UNSUPPORTED_TYPES = join(",", var.unsupported_instance_types) },
    length(var.member_role_arns) == 0 ? {} : { MIRRORLAKE_ENROLL_MEMBER_ROLES = join(",", var.member_role_arns) },
    var.organization_role_name == null ? {} : { MIRRORLAKE_ENROLL_ORGANIZATION_ROLE = var.organization_role_name },
    length(var.regions) == 0 ? {} : { MIRRORLAKE_ENROLL_REGIONS = join(",", var.regions) },
  )

  # Beyond the caller's account in its region: assume the member roles, list the Organization.
  member_statements = concat(
    [for arns in [var.member_role_arns] : {
      Sid      = "AssumeOnlyListedMemberRoles"
      Effect   = "Allow"
      Action   = "sts:AssumeRole"
      Resource = arns
    } if length(arns) > 0],
    [for n in compact([var.organization_role_name]) : {
      # Any account's role of that name: the accounts come from the Organization at run time.
      # Each such role trusts this function's role alone (enrollment-member module).
      Sid      = "AssumeOrganizationRole"
      Effect   = "Allow"
      Action   = "sts:AssumeRole"
      Resource = "arn:${local.partition}:iam::*:role/${n}"
    }],
    [for n in compact([var.organization_role_name]) : {
      # organizations:ListAccounts has no resource-level permissions: "*" is the only valid resource.
      Sid      = "ListOrganizationAccounts"
      Effect   = "Allow"
      Action   = "organizations:ListAccounts"
      Resource = "*"
    }],
  )
}

# The function's own account in the extra regions: target and filter found by tag there.
module "ec2_policy_by_tag" {
  source = "./modules/ec2-policy"

  partition  = local.partition
  account_id = local.account_id
  regions    = local.extra_regions
  deployment = var.deployment
}

################################################################################
# Function
################################################################################

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_158:Encryption with a customer key is opt-in through kms_key_arn; the log holds instance and session ids only, and CloudWatch Logs encrypts at rest by default.
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

resource "aws_iam_role" "this" {
  name_prefix = "${var.name}-enroll-"
  description = "mirrorlake-enroll Lambda: mirror sessions of the tagged fleet"

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy" "this" {
  name = "mirrorlake-enroll"
  role = aws_iam_role.this.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
      {
        # EC2 Describe* actions have no resource-level permissions: "*" is the only valid resource.
        Sid      = "DescribeNotResourceScopable"
        Effect   = "Allow"
        Action   = ["ec2:DescribeInstances", "ec2:DescribeTrafficMirrorSessions", "ec2:DescribeTrafficMirrorTargets"]
        Resource = "*"
      },
      {
        Sid      = "CreateSessionOnlyToOurTargetAndFilter"
        Effect   = "Allow"
        Action   = "ec2:CreateTrafficMirrorSession"
        Resource = ["${local.ec2_arn}:traffic-mirror-target/${var.traffic_mirror_target_id}", "${local.ec2_arn}:traffic-mirror-filter/${var.traffic_mirror_filter_id}", "${local.ec2_arn}:network-interface/*"]
      },
      {
        Sid      = "CreateSessionOnlyTaggedAsOurs"
        Effect   = "Allow"
        Action   = "ec2:CreateTrafficMirrorSession"
        Resource = local.session_arns
        Condition = {
          StringEquals                = { "aws:RequestTag/${local.owner_tag_key}" = var.deployment }
          "ForAllValues:StringEquals" = { "aws:TagKeys" = [local.owner_tag_key, "Name"] }
        }
      },
      {
        Sid       = "TagOnlyWhileCreatingSession"
        Effect    = "Allow"
        Action    = "ec2:CreateTags"
        Resource  = local.session_arns
        Condition = { StringEquals = { "ec2:CreateAction" = "CreateTrafficMirrorSession" } }
      },
      {
        Sid       = "DeleteOnlyOurSessions"
        Effect    = "Allow"
        Action    = "ec2:DeleteTrafficMirrorSession"
        Resource  = local.session_arns
        Condition = { StringEquals = { "aws:ResourceTag/${local.owner_tag_key}" = var.deployment } }
      },
      {
        Sid      = "WriteOwnLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}:*"
      },
    ], module.ec2_policy_by_tag.statements, local.member_statements)
  })
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_117:The function only calls the EC2 API; placing it in a VPC would need a NAT gateway or an EC2 interface endpoint and adds nothing.
  #checkov:skip=CKV_AWS_116:No dead-letter queue: a failed run is counted (EMF Failures metric, alarmed) and the scheduled full reconcile repairs whatever an event missed.
  #checkov:skip=CKV_AWS_173:The environment holds resource ids and tag selectors only, no secrets; the default Lambda encryption at rest applies.
  #checkov:skip=CKV_AWS_272:The zip is built from this repository by the operator and pinned by source_code_hash; code signing is left to accounts that run a signing profile.
  #checkov:skip=CKV_AWS_50:X-Ray adds nothing to a function whose only calls are a few EC2 API requests; its outcome is in the EMF metrics.
  function_name = local.function_name
  description   = "mirrorlake: enroll tagged ENIs in VPC Traffic Mirroring (deployment ${var.deployment})"
  role          = aws_iam_role.this.arn

  filename         = var.lambda_zip_path
  source_code_hash = filebase64sha256(var.lambda_zip_path)
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = [var.architecture]
  memory_size      = var.memory_size_mb
  timeout          = var.timeout_seconds

  # Optional (accounts at the default quota of 10 refuse any reservation). With 1, one run at a
  # time: events that arrive meanwhile wait in the async queue. Without, two concurrent reconciles
  # may both try to create a session for one new ENI; one fails (a counted failure) and the next
  # run repairs whatever is left.
  reserved_concurrent_executions = var.reserved_concurrent_executions

  environment {
    variables = local.environment
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.this.name
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.this]

  lifecycle {
    precondition {
      condition = !anytrue([for t in var.deployment_instance_tags :
        alltrue([for k, v in var.select_tags : lookup(t, k, null) == v])
      ])
      error_message = "select_tags (${jsonencode(var.select_tags)}) select instances of this deployment (collectors or aggregators carry all of them): choose tags that only the instances to mirror carry."
    }
  }
}

resource "aws_lambda_function_event_invoke_config" "this" {
  function_name                = aws_lambda_function.this.function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = 3600
}

################################################################################
# Triggers
################################################################################

resource "aws_cloudwatch_event_rule" "instance_running" {
  name        = "${local.function_name}-instance-running"
  description = "mirrorlake: enroll instances as soon as they are running"

  event_pattern = jsonencode({
    source        = ["aws.ec2"]
    "detail-type" = ["EC2 Instance State-change Notification"]
    detail        = { state = ["running"] }
  })

  tags = var.tags
}

resource "aws_cloudwatch_event_target" "instance_running" {
  rule = aws_cloudwatch_event_rule.instance_running.name
  arn  = aws_lambda_function.this.arn
}

resource "aws_cloudwatch_event_rule" "schedule" {
  name                = "${local.function_name}-reconcile"
  description         = "mirrorlake: full reconcile of the mirror sessions (repairs drift)"
  schedule_expression = var.reconcile_schedule

  tags = var.tags
}

resource "aws_cloudwatch_event_target" "schedule" {
  rule = aws_cloudwatch_event_rule.schedule.name
  arn  = aws_lambda_function.this.arn
}

resource "aws_lambda_permission" "events" {
  for_each = {
    instance-running = aws_cloudwatch_event_rule.instance_running.arn
    schedule         = aws_cloudwatch_event_rule.schedule.arn
  }

  statement_id  = "AllowEventBridge-${each.key}"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this.function_name
  principal     = "events.amazonaws.com"
  source_arn    = each.value
}

################################################################################
# Alarms: failures are metrics
################################################################################

resource "aws_cloudwatch_metric_alarm" "failures" {
  alarm_name          = "${local.function_name}-failures"
  alarm_description   = "mirrorlake-enroll failed to create/delete mirror sessions or to read the inventory (EMF metric Failures = SessionsFailed + ReconcileErrors): ENIs may be unmirrored. See the function's log."
  namespace           = "mirrorlake/enroll"
  metric_name         = "Failures"
  dimensions          = { Deployment = var.deployment }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  alarm_name          = "${local.function_name}-errors"
  alarm_description   = "The mirrorlake-enroll function failed (bad configuration at start-up, crash, timeout, or a failed run): new instances are not enrolled."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = local.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions

  tags = var.tags
}
