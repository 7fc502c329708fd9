variable "name" {
  description = "Name prefix of the function, its role, log group, rules and alarms."
  type        = string
  default     = "mirrorlake"

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,45}[a-z0-9])?$", var.name))
    error_message = "name must be 1-47 characters of lowercase letters, digits and hyphens, not starting or ending with a hyphen."
  }
}

variable "lambda_zip_path" {
  description = "Path of the function's zip: the mirrorlake-enroll binary (built for the architecture below) renamed bootstrap at the root of the zip (see the module README)."
  type        = string

  validation {
    condition     = endswith(var.lambda_zip_path, ".zip")
    error_message = "lambda_zip_path must name a .zip file."
  }
}

variable "architecture" {
  description = "CPU architecture the binary was built for: arm64 (cheaper) or x86_64."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "traffic_mirror_target_id" {
  description = "Traffic Mirror target (tmt-...) the sessions send to, normally the mirror-target module's output. Must be in this account and region (the IAM policy names its ARN)."
  type        = string

  validation {
    condition     = can(regex("^tmt-[0-9a-f]{8,17}$", var.traffic_mirror_target_id))
    error_message = "traffic_mirror_target_id must look like tmt-0123456789abcdef0."
  }
}

variable "traffic_mirror_filter_id" {
  description = "Traffic Mirror filter (tmf-...) of the sessions, normally the mirror-sessions module's output."
  type        = string

  validation {
    condition     = can(regex("^tmf-[0-9a-f]{8,17}$", var.traffic_mirror_filter_id))
    error_message = "traffic_mirror_filter_id must look like tmf-0123456789abcdef0."
  }
}

variable "select_tags" {
  description = "Instances to mirror: every ENI (primary and secondary) of an instance carrying all of these tags is enrolled. At least one tag; nothing is enrolled by default."
  type        = map(string)

  validation {
    condition     = length(var.select_tags) > 0 && alltrue([for k, v in var.select_tags : length(k) > 0 && !strcontains(k, ",") && !strcontains(v, ",") && !strcontains(k, "=")])
    error_message = "select_tags needs at least one tag; keys must be non-empty, and neither keys nor values may contain ',' (keys not '=')."
  }

  validation {
    condition     = !contains(keys(var.select_tags), "mirrorlake:role")
    error_message = "select_tags must not select on mirrorlake:role: that tag marks mirrorlake's own instances (collectors, aggregators), which are never mirror sources."
  }
}

variable "deployment_instance_tags" {
  description = "Tags of this deployment's own instances, one map per fleet (the collectors and aggregators modules' instance_tags outputs). The plan fails when select_tags would select one of them: the function excludes only the collector tag, and an aggregator mirrored into the lake it writes feeds its own traffic back."
  type        = list(map(string))
  default     = []
}

variable "reserved_concurrent_executions" {
  description = "Reserved concurrency of the function. 1 keeps runs from overlapping (two concurrent reconciles may both try to create a session for a new ENI: one fails and counts a failure, the next run repairs). null = none: an account must keep 10 executions unreserved, so accounts at the default concurrency quota of 10 refuse any reservation."
  type        = number
  default     = null

  validation {
    condition     = var.reserved_concurrent_executions == null ? true : (var.reserved_concurrent_executions >= 1 && var.reserved_concurrent_executions == floor(var.reserved_concurrent_executions))
    error_message = "reserved_concurrent_executions must be null or a whole number >= 1 (0 would stop the function)."
  }
}

variable "collector_tag" {
  description = "Tag of the collector instances, which are never enrolled (an ENI cannot be source and target, and a collector would mirror its own traffic). The collectors module sets mirrorlake:role = collector."
  type = object({
    key   = string
    value = string
  })
  default = { key = "mirrorlake:role", value = "collector" }
}

variable "deployment" {
  description = "Owner name of this deployment's sessions (tag mirrorlake:owner). The function creates sessions only with this tag and deletes only sessions carrying it; sessions of other tools or deployments are never touched."
  type        = string
  default     = "mirrorlake"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.:/=+@-]{1,128}$", var.deployment))
    error_message = "deployment must be 1-128 characters from A-Z a-z 0-9 _ . : / = + @ -."
  }
}

variable "vpc_ids" {
  description = "Only enroll ENIs in these VPCs. Empty = any VPC."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for v in var.vpc_ids : can(regex("^vpc-[0-9a-f]{8,17}$", v))])
    error_message = "vpc_ids must look like vpc-0123456789abcdef0."
  }
}

variable "subnet_ids" {
  description = "Only enroll ENIs in these subnets. Empty = any subnet."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for v in var.subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", v))])
    error_message = "subnet_ids must look like subnet-0123456789abcdef0."
  }
}

variable "session_number" {
  description = "Preferred session number (1-32766, 1 = highest priority). On an ENI where another session already has it, the next free number is used."
  type        = number
  default     = 1

  validation {
    condition     = var.session_number == floor(var.session_number) && var.session_number >= 1 && var.session_number <= 32766
    error_message = "session_number must be an integer from 1 to 32766."
  }
}

variable "vni_overrides" {
  description = "VNI per VPC id, overriding the derived one (FNV-1a of the VPC id, see deploy/enroll/README.md). Values 1-16777215."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.vni_overrides : can(regex("^vpc-[0-9a-f]{8,17}$", k)) && v == floor(v) && v >= 1 && v <= 16777215])
    error_message = "vni_overrides maps vpc-... ids to integers from 1 to 16777215."
  }
}

variable "packet_length" {
  description = "Bytes of each packet to mirror (1-8500). null = AWS default for an NLB target (8500)."
  type        = number
  default     = null

  validation {
    condition     = var.packet_length == null ? true : (var.packet_length == floor(var.packet_length) && var.packet_length >= 1 && var.packet_length <= 8500)
    error_message = "packet_length must be null or an integer from 1 to 8500."
  }
}

variable "unsupported_instance_types" {
  description = "Instance types never enrolled: families (t2) or patterns with * (*.metal). null = the built-in list (older non-Nitro families, T2, bare metal). An ENI AWS refuses with NetworkInterfaceNotSupported is skipped and counted either way."
  type        = list(string)
  default     = null
}

variable "member_role_arns" {
  description = "IAM roles of member accounts the function also reconciles (arn:aws:iam::ACCOUNT:role/NAME, one per account; the enrollment-member module makes them). There the mirror target and filter are those tagged mirrorlake:owner = deployment, in every region the function covers. The function's role may assume exactly these. Empty = none."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.member_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=.@_/-]{1,512}$", a))])
    error_message = "member_role_arns must be IAM role ARNs (arn:aws:iam::123456789012:role/NAME), without ',' (the function reads them comma-separated)."
  }

  validation {
    condition     = length(distinct(var.member_role_arns)) == length(var.member_role_arns)
    error_message = "member_role_arns must not list a role twice."
  }
}

variable "organization_role_name" {
  description = "Also reconcile every ACTIVE account of the AWS Organization (listed with organizations:ListAccounts: deploy this module in the management or a delegated administrator account), assuming the role of this name in each (arn:PARTITION:iam::ACCOUNT:role/NAME, path /; the enrollment-member module's role_name). Accounts without a tagged target are reported and left alone. null = no Organization."
  type        = string
  default     = null

  validation {
    condition     = var.organization_role_name == null ? true : can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.organization_role_name))
    error_message = "organization_role_name must be null or an IAM role name (1-64 characters of A-Z a-z 0-9 + = , . @ _ -)."
  }
}

variable "regions" {
  description = "Regions reconciled, in this account and in every member account (eu-west-1, ...). The function's own region is always reconciled, with traffic_mirror_target_id; elsewhere the target and filter are those tagged mirrorlake:owner = deployment. Empty = the function's region alone."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for r in var.regions : can(regex("^[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}$", r))])
    error_message = "regions must be AWS region names such as eu-west-1 or us-gov-west-1."
  }
}

variable "reconcile_schedule" {
  description = "EventBridge schedule of the full reconcile (repairs drift, enrolls instances whose event was missed)."
  type        = string
  default     = "rate(15 minutes)"

  validation {
    condition     = can(regex("^(rate|cron)\\(.+\\)$", var.reconcile_schedule))
    error_message = "reconcile_schedule must be an EventBridge rate(...) or cron(...) expression."
  }
}

variable "timeout_seconds" {
  description = "Function timeout. A full reconcile of a large fleet pages through every instance and session."
  type        = number
  default     = 300

  validation {
    condition     = var.timeout_seconds >= 10 && var.timeout_seconds <= 900
    error_message = "timeout_seconds must be from 10 to 900."
  }
}

variable "memory_size_mb" {
  description = "Function memory (MB)."
  type        = number
  default     = 256

  validation {
    condition     = var.memory_size_mb >= 128 && var.memory_size_mb <= 10240
    error_message = "memory_size_mb must be from 128 to 10240."
  }
}

variable "log_retention_days" {
  description = "Retention of the function's log group."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for the log group. null = CloudWatch Logs' default encryption."
  type        = string
  default     = null
}

variable "alarm_actions" {
  description = "ARNs notified when an alarm fires or clears (for example the alarms module's SNS topic)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
