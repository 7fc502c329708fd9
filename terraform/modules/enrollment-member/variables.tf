variable "enrollment_role_arn" {
  description = "ARN of the enrollment function's IAM role (the enrollment module's role_arn output), the only principal the role trusts. It must exist when this module is applied."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$", var.enrollment_role_arn))
    error_message = "enrollment_role_arn must be an IAM role ARN (arn:aws:iam::123456789012:role/NAME)."
  }
}

variable "role_name" {
  description = "Name of the role (path /). The enrollment module's member_role_arns then lists arn:PARTITION:iam::THIS_ACCOUNT:role/NAME; with organization_role_name, use that name in every account."
  type        = string
  default     = "mirrorlake-enroll"

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.role_name))
    error_message = "role_name must be an IAM role name: 1-64 characters of A-Z a-z 0-9 + = , . @ _ -."
  }
}

variable "deployment" {
  description = "The enrollment module's deployment (tag mirrorlake:owner): the role may create sessions only to the target and filter tagged with it, only tagged with it, and delete only sessions carrying it."
  type        = string
  default     = "mirrorlake"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.:/=+@-]{1,128}$", var.deployment))
    error_message = "deployment must be 1-128 characters from A-Z a-z 0-9 _ . : / = + @ -."
  }
}

variable "regions" {
  description = "Regions where the role may manage sessions: the enrollment function's region and its regions input. Empty = every region."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for r in var.regions : can(regex("^[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}$", r))])
    error_message = "regions must be AWS region names such as eu-west-1 or us-gov-west-1."
  }
}

variable "tags" {
  description = "Tags added to the role."
  type        = map(string)
  default     = {}
}
