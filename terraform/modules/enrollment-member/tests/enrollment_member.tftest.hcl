# Offline plan-time tests with a mocked AWS provider (no credentials, no network). The member
# account is mocked as the enrollment's own account (111122223333) so that the by-tag statements
# of both modules can be compared as they are.
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
  enrollment_role_arn = "arn:aws:iam::999988887777:role/mltest-enroll-20260101000000000000000001"
  deployment          = "mltest"
}

run "trusts_only_the_enrollment_role" {
  command = plan

  assert {
    condition     = aws_iam_role.this.name == "mirrorlake-enroll"
    error_message = "the role is named mirrorlake-enroll by default (the name organization_role_name expects)"
  }

  assert {
    condition = jsondecode(aws_iam_role.this.assume_role_policy) == {
      Version = "2012-10-17"
      Statement = [{
        Sid       = "OnlyTheEnrollmentFunction"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::999988887777:role/mltest-enroll-20260101000000000000000001" }
        Action    = "sts:AssumeRole"
      }]
    }
    error_message = "the trust policy must name the enrollment function's role and nothing else"
  }
}

run "ec2_permissions_in_every_region_by_default" {
  command = plan

  assert {
    condition = toset(flatten([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Action])) == toset([
      "ec2:DescribeInstances", "ec2:DescribeTrafficMirrorSessions", "ec2:DescribeTrafficMirrorTargets", "ec2:DescribeTrafficMirrorFilters",
      "ec2:CreateTrafficMirrorSession", "ec2:CreateTags", "ec2:DeleteTrafficMirrorSession",
    ])
    error_message = "only the mirror-session calls the function makes may be granted"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Resource != "*"
      if s.Sid != "ByTagDescribeNotResourceScopable"
    ])
    error_message = "only the Describe calls (not resource-scopable in EC2) may use Resource = *"
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s
      if s.Sid == "ByTagCreateSessionOnlyToOurTargetAndFilter"
      ]) == {
      Sid       = "ByTagCreateSessionOnlyToOurTargetAndFilter"
      Effect    = "Allow"
      Action    = "ec2:CreateTrafficMirrorSession"
      Resource  = ["arn:aws:ec2:*:111122223333:traffic-mirror-target/*", "arn:aws:ec2:*:111122223333:traffic-mirror-filter/*"]
      Condition = { StringEquals = { "aws:ResourceTag/mirrorlake:owner" = "mltest" } }
    }
    error_message = "sessions only to a target and filter of this account tagged mirrorlake:owner = deployment"
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s
      if s.Sid == "ByTagDeleteOnlyOurSessions"
      ]) == {
      Sid       = "ByTagDeleteOnlyOurSessions"
      Effect    = "Allow"
      Action    = "ec2:DeleteTrafficMirrorSession"
      Resource  = ["arn:aws:ec2:*:111122223333:traffic-mirror-session/*"]
      Condition = { StringEquals = { "aws:ResourceTag/mirrorlake:owner" = "mltest" } }
    }
    error_message = "DeleteTrafficMirrorSession only on sessions carrying our owner tag (aws:ResourceTag)"
  }
}

run "regions_when_named" {
  command = plan

  variables {
    regions = ["ap-northeast-1", "eu-west-1"]
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Resource if s.Sid == "ByTagCreateSessionOnlyTaggedAsOurs"
      ]) == [
      "arn:aws:ec2:ap-northeast-1:111122223333:traffic-mirror-session/*",
      "arn:aws:ec2:eu-west-1:111122223333:traffic-mirror-session/*",
    ]
    error_message = "with regions, sessions only in those regions"
  }
}

# The enrollment module itself, with one region beyond its own: its by-tag statements (that
# account in eu-west-1) are what a member role must grant there.
run "enrollment" {
  command = plan

  module {
    source = "../enrollment"
  }

  variables {
    name                     = "mltest"
    lambda_zip_path          = "../enrollment/tests/fixtures/enroll.zip"
    traffic_mirror_target_id = "tmt-0123456789abcdef0"
    traffic_mirror_filter_id = "tmf-0123456789abcdef0"
    select_tags              = { "mirrorlake:mirror" = "true" }
    deployment               = "mltest"
    regions                  = ["eu-west-1"]
  }
}

run "same_ec2_statements_as_the_enrollment_module" {
  command = plan

  variables {
    regions = ["eu-west-1"]
  }

  assert {
    condition     = length(jsondecode(aws_iam_role_policy.this.policy).Statement) == 6
    error_message = "the member role grants the six by-tag EC2 statements"
  }

  assert {
    condition = jsondecode(aws_iam_role_policy.this.policy).Statement == [
      for s in jsondecode(run.enrollment.policy_json).Statement : s if startswith(s.Sid, "ByTag")
    ]
    error_message = "the member role's EC2 statements must equal the enrollment module's for a scope found by tag"
  }
}

run "rejects_a_user_as_principal" {
  command = plan

  variables {
    enrollment_role_arn = "arn:aws:iam::999988887777:user/mirrorlake"
  }

  expect_failures = [var.enrollment_role_arn]
}

run "rejects_a_bad_role_name" {
  command = plan

  variables {
    role_name = "ops/mirrorlake-enroll"
  }

  expect_failures = [var.role_name]
}

run "rejects_a_bad_region" {
  command = plan

  variables {
    regions = ["*"]
  }

  expect_failures = [var.regions]
}
