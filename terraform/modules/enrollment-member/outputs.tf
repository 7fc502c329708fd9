output "role_arn" {
  description = "ARN of the role: list it in the enrollment module's member_role_arns (or name it with organization_role_name)."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the role."
  value       = aws_iam_role.this.name
}

output "policy_json" {
  description = "The role's inline IAM policy (JSON): the EC2 statements the enrollment function needs in this account."
  value       = aws_iam_role_policy.this.policy
}
