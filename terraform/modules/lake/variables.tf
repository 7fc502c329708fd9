variable "name" {
  description = "Name prefix (KMS alias, Athena workgroup, default bucket names)."
  type        = string
  default     = "mirrorlake"

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,22}[a-z0-9])?$", var.name))
    error_message = "name must be 1-24 characters of lowercase letters, digits and hyphens, not starting or ending with a hyphen."
  }
}

variable "bucket_name" {
  description = "Name of the lake bucket. null = \"<name>-lake-<account id>-<region>\"."
  type        = string
  default     = null

  validation {
    condition     = var.bucket_name == null ? true : can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)."
  }
}

variable "prefix" {
  description = "Key prefix of the lake inside the bucket, without leading or trailing slash; \"\" = bucket root. Tables live under <prefix>/<table>/dt=YYYY-MM-DD/hour=HH/."
  type        = string
  default     = "mirrorlake"

  validation {
    condition     = var.prefix == "" || can(regex("^[a-zA-Z0-9!_.*'()-]+(/[a-zA-Z0-9!_.*'()-]+)*$", var.prefix))
    error_message = "prefix must be \"\" or a key prefix without leading/trailing slash."
  }
}

variable "force_destroy" {
  description = "Allow terraform destroy to delete the buckets with their objects. Keep false for a real archive."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for SSE-KMS on both buckets and Athena results. null = create one (with rotation)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null ? true : can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN."
  }
}

variable "transition_to_ia_days" {
  description = "Days after creation when lake objects move to STANDARD_IA (S3 requires at least 30). null = never."
  type        = number
  default     = 30

  validation {
    condition     = var.transition_to_ia_days == null ? true : var.transition_to_ia_days >= 30
    error_message = "transition_to_ia_days must be null or at least 30 (S3 minimum for STANDARD_IA)."
  }
}

variable "transition_to_glacier_ir_days" {
  description = "Days after creation when lake objects move to GLACIER_IR (still queryable by Athena, millisecond access). Must come after the STANDARD_IA transition. null = never."
  type        = number
  default     = 90

  validation {
    condition     = var.transition_to_glacier_ir_days == null ? true : var.transition_to_glacier_ir_days >= 1
    error_message = "transition_to_glacier_ir_days must be null or positive."
  }
}

variable "expiration_days" {
  description = "Days after creation when lake objects expire (become noncurrent versions). null = keep forever."
  type        = number
  default     = 365

  validation {
    condition     = var.expiration_days == null ? true : var.expiration_days >= 1
    error_message = "expiration_days must be null or positive."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which noncurrent (overwritten or expired) versions are deleted for good. Object Lock retention still wins."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days must be at least 1."
  }
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Days after which incomplete multipart uploads (aggregator crashes mid-upload) are aborted."
  type        = number
  default     = 3

  validation {
    condition     = var.abort_incomplete_multipart_upload_days >= 1
    error_message = "abort_incomplete_multipart_upload_days must be at least 1."
  }
}

variable "object_lock" {
  description = "Optional S3 Object Lock default retention for the lake bucket: { mode = GOVERNANCE|COMPLIANCE, retention_days }. Enabling it on an existing lake keeps the bucket (S3 allows it on a versioned bucket); it cannot be turned off again. COMPLIANCE cannot be shortened or removed by anyone, including root, until each object's retention ends."
  type = object({
    mode           = string
    retention_days = number
  })
  default = null

  validation {
    condition     = var.object_lock == null ? true : contains(["GOVERNANCE", "COMPLIANCE"], var.object_lock.mode)
    error_message = "object_lock.mode must be GOVERNANCE or COMPLIANCE."
  }

  validation {
    condition     = var.object_lock == null ? true : (var.object_lock.retention_days >= 1 && var.object_lock.retention_days == floor(var.object_lock.retention_days))
    error_message = "object_lock.retention_days must be a positive integer."
  }
}

variable "access_log_bucket_name" {
  description = "Bucket that receives S3 server access logs of both buckets (under <bucket name>/). null = no access logging."
  type        = string
  default     = null
}

variable "database_name" {
  description = "Glue catalog database of the lake tables."
  type        = string
  default     = "mirrorlake"

  validation {
    condition     = can(regex("^[a-z0-9_]{1,255}$", var.database_name))
    error_message = "database_name must be lowercase letters, digits and underscores (Athena-friendly)."
  }
}

variable "tables" {
  description = "Lake tables: map of table name => path of its columns JSON file (a list of {name, type, comment}, generated by the Rust schema crate). null = every schema/<table>.columns.json shipped with this module (today: packets and flows). Each table lives under <prefix>/<table>/dt=YYYY-MM-DD/hour=HH/."
  type        = map(string)
  default     = null

  validation {
    condition     = var.tables == null ? true : alltrue([for t, f in var.tables : can(regex("^[a-z0-9_]{1,255}$", t))])
    error_message = "table names must be lowercase letters, digits and underscores."
  }
}

variable "projection_start_date" {
  description = "First day (yyyy-MM-dd, UTC) of the dt partition projection range; the range ends at NOW."
  type        = string
  default     = "2024-01-01"

  validation {
    condition     = can(regex("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", var.projection_start_date))
    error_message = "projection_start_date must be yyyy-MM-dd."
  }
}

variable "results_bucket_name" {
  description = "Name of the Athena query results bucket. null = \"<name>-athena-<account id>-<region>\"."
  type        = string
  default     = null

  validation {
    condition     = var.results_bucket_name == null ? true : can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.results_bucket_name))
    error_message = "results_bucket_name must be a valid S3 bucket name."
  }
}

variable "results_prefix" {
  description = "Key prefix of Athena results in the results bucket, without slashes at either end."
  type        = string
  default     = "athena-results"

  validation {
    condition     = can(regex("^[a-zA-Z0-9!_.*'()-]+(/[a-zA-Z0-9!_.*'()-]+)*$", var.results_prefix))
    error_message = "results_prefix must be a non-empty key prefix without leading/trailing slash."
  }
}

variable "results_expiration_days" {
  description = "Days after which Athena query results are deleted."
  type        = number
  default     = 30

  validation {
    condition     = var.results_expiration_days >= 1
    error_message = "results_expiration_days must be at least 1."
  }
}

variable "workgroup_name" {
  description = "Athena workgroup name. null = <name>."
  type        = string
  default     = null
}

variable "bytes_scanned_cutoff_per_query" {
  description = "Athena cancels any query of the workgroup that scans more than this many bytes (minimum 10 MB). The default, 100 GiB, costs about 0.5 USD per query at 5 USD/TB."
  type        = number
  default     = 107374182400

  validation {
    condition     = var.bytes_scanned_cutoff_per_query >= 10485760
    error_message = "bytes_scanned_cutoff_per_query must be at least 10485760 (10 MB)."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
