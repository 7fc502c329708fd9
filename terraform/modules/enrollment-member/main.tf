# The role a member account provides to the enrollment function of another account (module
# enrollment, input member_role_arns or organization_role_name): trusted by that function's role
# alone, with exactly the EC2 permissions the function needs in an account whose mirror target
# and filter it finds by tag (mirrorlake:owner = deployment). The statements are the enrollment
# module's own for such scopes (modules/enrollment/modules/ec2-policy/main.tf), not a copy.
#
# IAM accepts a trust policy only when its principal exists: apply the enrollment module first.
# Its role has a generated name (name_prefix); when that role is replaced, apply this module again
# with the new ARN (IAM shows a deleted principal as a unique id, which no new role matches).

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

module "ec2_policy" {
  source = "../enrollment/modules/ec2-policy"

  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id
  regions    = length(var.regions) == 0 ? ["*"] : var.regions
  deployment = var.deployment
}

resource "aws_iam_role" "this" {
  name        = var.role_name
  description = "mirrorlake-enroll of another account: mirror sessions of the tagged fleet here (deployment ${var.deployment})"

  # Only the enrollment function's role; the function assumes this role with session name
  # mirrorlake-enroll and no external id.
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "OnlyTheEnrollmentFunction"
      Effect    = "Allow"
      Principal = { AWS = var.enrollment_role_arn }
      Action    = "sts:AssumeRole"
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy" "this" {
  name = "mirrorlake-enroll"
  role = aws_iam_role.this.id

  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = module.ec2_policy.statements
  })
}
