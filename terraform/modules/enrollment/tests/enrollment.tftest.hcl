# Offline plan-time tests with a mocked AWS provider (no credentials, no network).
mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { name = "ap-northeast-1" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "111122223333" }
  }
}

variables {
  name                     = "mltest"
  lambda_zip_path          = "tests/fixtures/enroll.zip"
  traffic_mirror_target_id = "tmt-0123456789abcdef0"
  traffic_mirror_filter_id = "tmf-0123456789abcdef0"
  select_tags              = { "mirrorlake:mirror" = "true", env = "prod" }
  deployment               = "mltest"
  alarm_actions            = ["arn:aws:sns:ap-northeast-1:111122223333:mltest-alarms"]
}

run "function_and_settings" {
  command = plan

  assert {
    condition     = aws_lambda_function.this.runtime == "provided.al2023" && aws_lambda_function.this.handler == "bootstrap" && aws_lambda_function.this.architectures == tolist(["arm64"])
    error_message = "custom runtime provided.al2023 with a bootstrap binary expected"
  }

  # Issue 23 (8): no reservation by default (null in the plan: the provider's -1, unreserved);
  # accounts at the default concurrency quota of 10 refuse any.
  assert {
    condition     = aws_lambda_function.this.reserved_concurrent_executions == null || aws_lambda_function.this.reserved_concurrent_executions == -1
    error_message = "no reserved concurrency by default"
  }

  assert {
    condition = (
      aws_lambda_function.this.environment[0].variables["MIRRORLAKE_ENROLL_TARGET_ID"] == "tmt-0123456789abcdef0" &&
      aws_lambda_function.this.environment[0].variables["MIRRORLAKE_ENROLL_FILTER_ID"] == "tmf-0123456789abcdef0" &&
      aws_lambda_function.this.environment[0].variables["MIRRORLAKE_ENROLL_SELECT_TAGS"] == "env=prod,mirrorlake:mirror=true" &&
      aws_lambda_function.this.environment[0].variables["MIRRORLAKE_ENROLL_COLLECTOR_TAG"] == "mirrorlake:role=collector" &&
      aws_lambda_function.this.environment[0].variables["MIRRORLAKE_ENROLL_DEPLOYMENT"] == "mltest"
    )
    error_message = "the binary's settings (the environment variables it reads) do not match the inputs"
  }

  assert {
    condition     = !contains(keys(aws_lambda_function.this.environment[0].variables), "MIRRORLAKE_ENROLL_VPC_IDS")
    error_message = "no VPC scope unless vpc_ids is set"
  }
}

run "triggers" {
  command = plan

  assert {
    condition = jsondecode(aws_cloudwatch_event_rule.instance_running.event_pattern) == {
      source        = ["aws.ec2"]
      "detail-type" = ["EC2 Instance State-change Notification"]
      detail        = { state = ["running"] }
    }
    error_message = "state-change rule must match EC2 instances entering running"
  }

  assert {
    condition     = aws_cloudwatch_event_rule.schedule.schedule_expression == "rate(15 minutes)"
    error_message = "scheduled full reconcile expected"
  }

  assert {
    condition     = toset(keys(aws_lambda_permission.events)) == toset(["instance-running", "schedule"]) && alltrue([for p in aws_lambda_permission.events : p.principal == "events.amazonaws.com"])
    error_message = "EventBridge must be allowed to invoke the function for both rules"
  }
}

run "least_privilege_policy" {
  command = plan

  assert {
    condition = toset(flatten([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Action])) == toset([
      "ec2:DescribeInstances", "ec2:DescribeTrafficMirrorSessions", "ec2:DescribeTrafficMirrorTargets",
      "ec2:CreateTrafficMirrorSession", "ec2:CreateTags", "ec2:DeleteTrafficMirrorSession",
      "logs:CreateLogStream", "logs:PutLogEvents",
    ])
    error_message = "only the mirror-session calls the service makes (and its own logs) may be granted"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement :
      s.Resource != "*" if s.Sid != "DescribeNotResourceScopable"
    ])
    error_message = "only the Describe calls (not resource-scopable in EC2) may use Resource = *"
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Resource
      if s.Sid == "CreateSessionOnlyToOurTargetAndFilter"
      ]) == [
      "arn:aws:ec2:ap-northeast-1:111122223333:traffic-mirror-target/tmt-0123456789abcdef0",
      "arn:aws:ec2:ap-northeast-1:111122223333:traffic-mirror-filter/tmf-0123456789abcdef0",
      "arn:aws:ec2:ap-northeast-1:111122223333:network-interface/*",
    ]
    error_message = "CreateTrafficMirrorSession must be scoped to our target and filter ARNs"
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Condition.StringEquals["aws:RequestTag/mirrorlake:owner"]
      if s.Sid == "CreateSessionOnlyTaggedAsOurs"
    ]) == "mltest"
    error_message = "new sessions must be tagged mirrorlake:owner = deployment (aws:RequestTag condition)"
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s
      if s.Sid == "DeleteOnlyOurSessions"
      ]) == {
      Sid       = "DeleteOnlyOurSessions"
      Effect    = "Allow"
      Action    = "ec2:DeleteTrafficMirrorSession"
      Resource  = "arn:aws:ec2:ap-northeast-1:111122223333:traffic-mirror-session/*"
      Condition = { StringEquals = { "aws:ResourceTag/mirrorlake:owner" = "mltest" } }
    }
    error_message = "DeleteTrafficMirrorSession only on sessions carrying our owner tag (aws:ResourceTag)"
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Condition.StringEquals["ec2:CreateAction"]
      if s.Sid == "TagOnlyWhileCreatingSession"
    ]) == "CreateTrafficMirrorSession"
    error_message = "CreateTags only as part of CreateTrafficMirrorSession"
  }
}

run "failure_alarms" {
  command = plan

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.failures.namespace == "mirrorlake/enroll" &&
      aws_cloudwatch_metric_alarm.failures.metric_name == "Failures" &&
      aws_cloudwatch_metric_alarm.failures.dimensions["Deployment"] == "mltest" &&
      aws_cloudwatch_metric_alarm.failures.threshold == 0 &&
      aws_cloudwatch_metric_alarm.failures.comparison_operator == "GreaterThanThreshold"
    )
    error_message = "alarm on the EMF Failures metric of this deployment expected"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.errors.namespace == "AWS/Lambda" && aws_cloudwatch_metric_alarm.errors.dimensions["FunctionName"] == "mltest-enroll"
    error_message = "alarm on the function's own errors expected"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.failures.alarm_actions == toset(var.alarm_actions)
    error_message = "alarm actions must be wired"
  }
}

run "optional_scope" {
  command = plan

  variables {
    vpc_ids       = ["vpc-0123456789abcdef0"]
    vni_overrides = { "vpc-0123456789abcdef0" = 42 }
    packet_length = 128
  }

  assert {
    condition = (
      aws_lambda_function.this.environment[0].variables["MIRRORLAKE_ENROLL_VPC_IDS"] == "vpc-0123456789abcdef0" &&
      aws_lambda_function.this.environment[0].variables["MIRRORLAKE_ENROLL_VNIS"] == "vpc-0123456789abcdef0=42" &&
      aws_lambda_function.this.environment[0].variables["MIRRORLAKE_ENROLL_PACKET_LENGTH"] == "128"
    )
    error_message = "VPC scope, VNI overrides and packet length must reach the function"
  }
}

run "rejects_empty_selection" {
  command = plan

  variables {
    select_tags = {}
  }

  expect_failures = [var.select_tags]
}

run "rejects_bad_target" {
  command = plan

  variables {
    traffic_mirror_target_id = "tmf-0123456789abcdef0"
  }

  expect_failures = [var.traffic_mirror_target_id]
}

run "reserved_concurrency_when_asked" {
  command = plan

  variables {
    reserved_concurrent_executions = 1
  }

  assert {
    condition     = aws_lambda_function.this.reserved_concurrent_executions == 1
    error_message = "reserved_concurrent_executions must be passed through"
  }
}

# Issue 23 (8): enrollment never selects the deployment's own instances.
run "rejects_selecting_on_the_role_tag" {
  command = plan

  variables {
    select_tags = { "mirrorlake:role" = "aggregator" }
  }

  expect_failures = [var.select_tags]
}

run "rejects_select_tags_matching_the_aggregators" {
  command = plan

  variables {
    select_tags = { Project = "mirrorlake" }
    deployment_instance_tags = [
      { Name = "mltest-collector", "mirrorlake:role" = "collector", Project = "mirrorlake" },
      { Name = "mltest-aggregator", "mirrorlake:role" = "aggregator", Project = "mirrorlake" },
    ]
  }

  expect_failures = [aws_lambda_function.this]
}

run "select_tags_not_on_the_fleets_pass" {
  command = plan

  variables {
    deployment_instance_tags = [
      { Name = "mltest-collector", "mirrorlake:role" = "collector", "mirrorlake:mirror" = "true" },
      { Name = "mltest-aggregator", "mirrorlake:role" = "aggregator", env = "prod" },
    ]
  }

  assert {
    condition     = aws_lambda_function.this.function_name == "mltest-enroll"
    error_message = "fleets that carry only some of the select tags do not block the plan"
  }
}
