# The EC2 statements mirrorlake-enroll needs in a scope whose mirror target and filter it finds
# by tag (mirrorlake:owner = deployment): a member account (modules/enrollment-member, the whole
# role policy) or a region of the function's own account other than its primary one (modules
# enrollment, next to the statements naming its explicit target and filter). One definition for
# both, so the two cannot drift (the enrollment-member tests check them equal).
#
# Pure computation: no provider, no resource. The statements mirror those the enrollment module
# grants for its explicit target, with the target and filter chosen by their owner tag instead of
# their ids (unknown here: each account's endpoint is its own target), and
# ec2:DescribeTrafficMirrorFilters added (the filter is looked up too). Sids start with "ByTag" so
# that both sets fit in one policy (IAM wants Sids unique per policy).

locals {
  owner_tag_key = "mirrorlake:owner"
  ec2_arns      = [for r in var.regions : "arn:${var.partition}:ec2:${r}:${var.account_id}"]
  session_arns  = [for a in local.ec2_arns : "${a}:traffic-mirror-session/*"]

  statements = [
    {
      # EC2 Describe* actions have no resource-level permissions: "*" is the only valid resource.
      Sid      = "ByTagDescribeNotResourceScopable"
      Effect   = "Allow"
      Action   = ["ec2:DescribeInstances", "ec2:DescribeTrafficMirrorSessions", "ec2:DescribeTrafficMirrorTargets", "ec2:DescribeTrafficMirrorFilters"]
      Resource = "*"
    },
    {
      Sid       = "ByTagCreateSessionOnlyToOurTargetAndFilter"
      Effect    = "Allow"
      Action    = "ec2:CreateTrafficMirrorSession"
      Resource  = flatten([for a in local.ec2_arns : ["${a}:traffic-mirror-target/*", "${a}:traffic-mirror-filter/*"]])
      Condition = { StringEquals = { "aws:ResourceTag/${local.owner_tag_key}" = var.deployment } }
    },
    {
      # The source ENI (no owner tag: any ENI of the scope, as for the explicit target).
      Sid      = "ByTagCreateSessionFromNetworkInterfaces"
      Effect   = "Allow"
      Action   = "ec2:CreateTrafficMirrorSession"
      Resource = [for a in local.ec2_arns : "${a}:network-interface/*"]
    },
    {
      Sid      = "ByTagCreateSessionOnlyTaggedAsOurs"
      Effect   = "Allow"
      Action   = "ec2:CreateTrafficMirrorSession"
      Resource = local.session_arns
      Condition = {
        StringEquals                = { "aws:RequestTag/${local.owner_tag_key}" = var.deployment }
        "ForAllValues:StringEquals" = { "aws:TagKeys" = [local.owner_tag_key, "Name"] }
      }
    },
    {
      Sid       = "ByTagTagOnlyWhileCreatingSession"
      Effect    = "Allow"
      Action    = "ec2:CreateTags"
      Resource  = local.session_arns
      Condition = { StringEquals = { "ec2:CreateAction" = "CreateTrafficMirrorSession" } }
    },
    {
      Sid       = "ByTagDeleteOnlyOurSessions"
      Effect    = "Allow"
      Action    = "ec2:DeleteTrafficMirrorSession"
      Resource  = local.session_arns
      Condition = { StringEquals = { "aws:ResourceTag/${local.owner_tag_key}" = var.deployment } }
    },
  ]
}
