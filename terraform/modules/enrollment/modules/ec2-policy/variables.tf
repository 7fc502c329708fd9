variable "partition" {
  description = "AWS partition of the scope (aws, aws-cn, aws-us-gov)."
  type        = string
}

variable "account_id" {
  description = "Account the statements grant EC2 access in (the role's own account)."
  type        = string
}

variable "regions" {
  description = "Regions the statements cover (\"*\" = every region). Empty = no statement."
  type        = list(string)

  validation {
    condition     = alltrue([for r in var.regions : r == "*" || can(regex("^[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}$", r))])
    error_message = "regions must be region names (eu-west-1) or \"*\"."
  }
}

variable "deployment" {
  description = "Owner name (tag mirrorlake:owner) of the target, filter and sessions."
  type        = string
}
