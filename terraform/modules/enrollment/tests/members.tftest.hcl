# Member accounts and regions (issue 24): settings reach the function only when set, and the
# role gains exactly the STS/Organizations/EC2 statements they need. Mocked AWS provider.
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
  select_tags              = { "mirrorlake:mirror" = "true" }
  deployment               = "mltest"
}

# Without the new inputs: today's settings and today's six statements, nothing more.
run "single_account_by_default" {
  command = plan

  assert {
    condition = length(setintersection(keys(aws_lambda_function.this.environment[0].variables), [
      "MIRRORLAKE_ENROLL_MEMBER_ROLES", "MIRRORLAKE_ENROLL_ORGANIZATION_ROLE", "MIRRORLAKE_ENROLL_REGIONS",
    ])) == 0
    error_message = "no member, Organization or region setting unless its input is set"
  }

  assert {
    condition = [for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Sid] == [
      "DescribeNotResourceScopable", "CreateSessionOnlyToOurTargetAndFilter", "CreateSessionOnlyTaggedAsOurs",
      "TagOnlyWhileCreatingSession", "DeleteOnlyOurSessions", "WriteOwnLogs",
    ]
    error_message = "without members or regions the policy must be the single-account one"
  }
}

run "member_roles" {
  command = plan

  variables {
    member_role_arns = [
      "arn:aws:iam::444455556666:role/mirrorlake-enroll",
      "arn:aws:iam::777788889999:role/ops/mirrorlake-enroll",
    ]
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables["MIRRORLAKE_ENROLL_MEMBER_ROLES"] == "arn:aws:iam::444455556666:role/mirrorlake-enroll,arn:aws:iam::777788889999:role/ops/mirrorlake-enroll"
    error_message = "member_role_arns must reach the function comma-separated (MIRRORLAKE_ENROLL_MEMBER_ROLES)"
  }

  assert {
    condition = [for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s if contains(flatten([s.Action]), "sts:AssumeRole")] == [{
      Sid      = "AssumeOnlyListedMemberRoles"
      Effect   = "Allow"
      Action   = "sts:AssumeRole"
      Resource = ["arn:aws:iam::444455556666:role/mirrorlake-enroll", "arn:aws:iam::777788889999:role/ops/mirrorlake-enroll"]
    }]
    error_message = "sts:AssumeRole must be granted on exactly the member roles, in one statement"
  }

  assert {
    condition     = !contains(flatten([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Action]), "organizations:ListAccounts")
    error_message = "organizations:ListAccounts only with organization_role_name"
  }

  assert {
    condition     = !contains(keys(aws_lambda_function.this.environment[0].variables), "MIRRORLAKE_ENROLL_ORGANIZATION_ROLE")
    error_message = "no Organization setting unless organization_role_name is set"
  }
}

run "organization_role" {
  command = plan

  variables {
    organization_role_name = "mirrorlake-enroll"
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables["MIRRORLAKE_ENROLL_ORGANIZATION_ROLE"] == "mirrorlake-enroll"
    error_message = "organization_role_name must reach the function (MIRRORLAKE_ENROLL_ORGANIZATION_ROLE)"
  }

  assert {
    condition = [for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s if contains(flatten([s.Action]), "organizations:ListAccounts")] == [{
      Sid      = "ListOrganizationAccounts"
      Effect   = "Allow"
      Action   = "organizations:ListAccounts"
      Resource = "*"
    }]
    error_message = "organizations:ListAccounts (no resource-level permissions: *) must be granted with an Organization role"
  }

  assert {
    condition = [for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Resource if contains(flatten([s.Action]), "sts:AssumeRole")] == [
      "arn:aws:iam::*:role/mirrorlake-enroll",
    ]
    error_message = "sts:AssumeRole must be granted on the Organization role name only (arn:aws:iam::*:role/NAME)"
  }

  assert {
    condition     = !contains(keys(aws_lambda_function.this.environment[0].variables), "MIRRORLAKE_ENROLL_MEMBER_ROLES")
    error_message = "no member roles setting unless member_role_arns is set"
  }
}

run "regions" {
  command = plan

  variables {
    regions = ["ap-northeast-1", "eu-west-1", "us-east-1"]
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables["MIRRORLAKE_ENROLL_REGIONS"] == "ap-northeast-1,eu-west-1,us-east-1"
    error_message = "regions must reach the function comma-separated (MIRRORLAKE_ENROLL_REGIONS)"
  }

  # The primary region keeps its explicit target; the others get the by-tag statements.
  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Resource if s.Sid == "ByTagDeleteOnlyOurSessions"
      ]) == [
      "arn:aws:ec2:eu-west-1:111122223333:traffic-mirror-session/*",
      "arn:aws:ec2:us-east-1:111122223333:traffic-mirror-session/*",
    ]
    error_message = "the by-tag statements cover the extra regions of this account, not the primary one"
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s
      if s.Sid == "ByTagCreateSessionOnlyToOurTargetAndFilter"
      ]) == {
      Sid    = "ByTagCreateSessionOnlyToOurTargetAndFilter"
      Effect = "Allow"
      Action = "ec2:CreateTrafficMirrorSession"
      Resource = [
        "arn:aws:ec2:eu-west-1:111122223333:traffic-mirror-target/*", "arn:aws:ec2:eu-west-1:111122223333:traffic-mirror-filter/*",
        "arn:aws:ec2:us-east-1:111122223333:traffic-mirror-target/*", "arn:aws:ec2:us-east-1:111122223333:traffic-mirror-filter/*",
      ]
      Condition = { StringEquals = { "aws:ResourceTag/mirrorlake:owner" = "mltest" } }
    }
    error_message = "elsewhere, sessions only to a target and filter tagged mirrorlake:owner = deployment"
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Resource if s.Sid == "CreateSessionOnlyToOurTargetAndFilter"
      ]) == [
      "arn:aws:ec2:ap-northeast-1:111122223333:traffic-mirror-target/tmt-0123456789abcdef0",
      "arn:aws:ec2:ap-northeast-1:111122223333:traffic-mirror-filter/tmf-0123456789abcdef0",
      "arn:aws:ec2:ap-northeast-1:111122223333:network-interface/*",
    ]
    error_message = "the primary region keeps its explicit target and filter"
  }

  assert {
    condition     = length([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s if contains(flatten([s.Action]), "sts:AssumeRole")]) == 0
    error_message = "regions alone need no sts:AssumeRole"
  }
}

run "only_the_primary_region_adds_no_statement" {
  command = plan

  variables {
    regions = ["ap-northeast-1"]
  }

  assert {
    condition     = length([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s if startswith(s.Sid, "ByTag")]) == 0
    error_message = "the primary region alone needs no by-tag statement"
  }
}

run "everything_set_keeps_star_to_unscopable_actions" {
  command = plan

  variables {
    member_role_arns       = ["arn:aws:iam::444455556666:role/mirrorlake-enroll"]
    organization_role_name = "mirrorlake-enroll"
    regions                = ["eu-west-1"]
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Resource != "*"
      if !contains(["DescribeNotResourceScopable", "ByTagDescribeNotResourceScopable", "ListOrganizationAccounts"], s.Sid)
    ])
    error_message = "only the Describe calls and ListAccounts (not resource-scopable) may use Resource = *"
  }

  assert {
    condition = toset(flatten([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Action])) == toset([
      "ec2:DescribeInstances", "ec2:DescribeTrafficMirrorSessions", "ec2:DescribeTrafficMirrorTargets", "ec2:DescribeTrafficMirrorFilters",
      "ec2:CreateTrafficMirrorSession", "ec2:CreateTags", "ec2:DeleteTrafficMirrorSession",
      "logs:CreateLogStream", "logs:PutLogEvents", "sts:AssumeRole", "organizations:ListAccounts",
    ])
    error_message = "only the calls the service makes may be granted (sts:GetCallerIdentity needs no permission)"
  }

  assert {
    condition     = length(distinct([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Sid])) == length(jsondecode(aws_iam_role_policy.this.policy).Statement)
    error_message = "IAM wants statement ids unique within a policy"
  }
}

run "rejects_a_user_arn_as_member_role" {
  command = plan

  variables {
    member_role_arns = ["arn:aws:iam::444455556666:user/mirrorlake"]
  }

  expect_failures = [var.member_role_arns]
}

run "rejects_a_comma_in_a_member_role" {
  command = plan

  variables {
    member_role_arns = ["arn:aws:iam::444455556666:role/a,b"]
  }

  expect_failures = [var.member_role_arns]
}

run "rejects_a_member_role_listed_twice" {
  command = plan

  variables {
    member_role_arns = ["arn:aws:iam::444455556666:role/x", "arn:aws:iam::444455556666:role/x"]
  }

  expect_failures = [var.member_role_arns]
}

run "rejects_a_bad_organization_role_name" {
  command = plan

  variables {
    organization_role_name = "ops/mirrorlake"
  }

  expect_failures = [var.organization_role_name]
}

run "rejects_a_bad_region" {
  command = plan

  variables {
    regions = ["EU_WEST"]
  }

  expect_failures = [var.regions]
}
