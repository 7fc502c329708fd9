output "statements" {
  description = "IAM policy statements (objects for jsonencode): none when regions is empty."
  value       = [for s in local.statements : s if length(var.regions) > 0]
}
