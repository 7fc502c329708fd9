variable "region" {
  description = "AWS region of everything: the collectors and both source VPCs (a GWLB endpoint connects to a service of its own region)."
  type        = string
  default     = "ap-northeast-1"
}

variable "name" {
  description = "Name prefix of every resource."
  type        = string
  default     = "mirrorlake"
}

variable "member_role_arn" {
  description = "Role in the member account that Terraform assumes (provider aws.member) to create that account's GWLB endpoint, mirror target, filter and sessions (README, \"Permissions\")."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.member_role_arn))
    error_message = "member_role_arn must be an IAM role ARN (arn:aws:iam::<account>:role/NAME)."
  }
}

variable "collectors_vpc_id" {
  description = "VPC of the collectors and the Gateway Load Balancer (central account)."
  type        = string
}

variable "collectors_subnet_ids" {
  description = "Private subnets of the collectors and the GWLB, one per Availability Zone, with a route to S3 and the AWS APIs. Each source VPC's endpoint must be in one of their AZs (by AZ id)."
  type        = list(string)
}

variable "central_source" {
  description = "The source VPC in the central account: its VPC, the subnet of its GWLB endpoint (an AZ of the GWLB's, by AZ id), the ENIs to mirror ([] to deploy first) and its VNI (one per VPC: the lake tells the VPCs apart by it)."
  type = object({
    vpc_id             = string
    endpoint_subnet_id = string
    eni_ids            = optional(list(string), [])
    virtual_network_id = optional(number, 1)
  })
}

variable "member_source" {
  description = "The source VPC in the member account (member_role_arn's): its VPC, the subnet of its GWLB endpoint (an AZ of the GWLB's, by AZ id, not name: names differ between accounts), the ENIs to mirror and its VNI."
  type = object({
    vpc_id             = string
    endpoint_subnet_id = string
    eni_ids            = optional(list(string), [])
    virtual_network_id = optional(number, 2)
  })
}

variable "collector_binary_url" {
  description = "HTTPS URL of the mirrorlake-collector build for the collectors' architecture."
  type        = string
}

variable "collector_binary_sha256" {
  description = "SHA-256 of the collector artifact."
  type        = string
  default     = null
}

variable "collector_instance_type" {
  description = "Collector instance type (Nitro, not bare metal)."
  type        = string
  default     = "c6in.large"
}

variable "lake_bucket_name" {
  description = "Lake bucket name (null = <name>-lake-<account>-<region>)."
  type        = string
  default     = null
}

variable "lake_prefix" {
  description = "Key prefix of the lake inside its bucket."
  type        = string
  default     = "mirrorlake"
}

variable "alarm_emails" {
  description = "E-mail addresses that receive the alarms."
  type        = list(string)
  default     = []
}

variable "enable_deletion_protection" {
  description = "Protect the GWLB from deletion: deleting it stops mirroring in every source VPC (turn off only for throw-away environments)."
  type        = bool
  default     = true
}

variable "force_destroy" {
  description = "Let terraform destroy delete a non-empty lake bucket (throw-away environments only)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags on every resource, in both accounts (provider default_tags)."
  type        = map(string)
  default = {
    Project = "mirrorlake"
  }
}
