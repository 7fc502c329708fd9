# mirrorlake, multi-account: mirror sources in two VPCs of two accounts -> each VPC's GWLB endpoint
# -> PrivateLink -> Gateway Load Balancer (central account) -> GENEVE/UDP 6081 -> collectors ->
# Parquet on S3 -> Glue/Athena. No routing between the VPCs: each source VPC reaches the
# collectors only through its own endpoint of the central endpoint service.
#
# The central account (default provider) holds the collectors (single-node mode: they write the
# lake themselves), the lake, the GWLB and its endpoint service, and one source VPC. The member
# account (provider aws.member, a role assumed there) holds the other source VPC: its endpoint,
# mirror target, filter and sessions are the member account's resources, created with its role.
# README explains the flow and the permissions.

provider "aws" {
  region = var.region

  default_tags {
    tags = var.tags
  }
}

# The member account: everything of its source VPC is created with a role assumed there.
provider "aws" {
  alias  = "member"
  region = var.region

  assume_role {
    role_arn     = var.member_role_arn
    session_name = "mirrorlake-${var.name}"
  }

  default_tags {
    tags = var.tags
  }
}

data "aws_partition" "current" {}
data "aws_caller_identity" "central" {}

data "aws_caller_identity" "member" {
  provider = aws.member
}

locals {
  deregistration_delay = 120

  # Who may connect endpoints to the collectors' service: the two accounts with sources.
  allowed_principals = [
    "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.central.account_id}:root",
    "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.member.account_id}:root",
  ]
}

################################################################################
# Central account: lake, GWLB + endpoint service, collectors, alarms
################################################################################

module "lake" {
  source = "../../modules/lake"

  name          = var.name
  bucket_name   = var.lake_bucket_name
  prefix        = var.lake_prefix
  force_destroy = var.force_destroy
}

module "mirror_target" {
  source = "../../modules/mirror-target"

  kind                         = "gwlb"
  name                         = var.name
  vpc_id                       = var.collectors_vpc_id
  subnet_ids                   = var.collectors_subnet_ids
  allowed_principals           = local.allowed_principals
  acceptance_required          = false
  deregistration_delay_seconds = local.deregistration_delay
  enable_deletion_protection   = var.enable_deletion_protection
}

module "collectors" {
  source = "../../modules/collectors"

  # Collectors only: no MSK, no aggregators (examples/single-node); behind the GWLB they admit
  # UDP 6081 and the health port from its subnets, and listen for GENEVE. No CIDR list of the
  # sources: their addresses never reach the collectors (and may overlap).
  mode        = "single_node"
  target_kind = module.mirror_target.kind

  name                         = var.name
  vpc_id                       = var.collectors_vpc_id
  subnet_ids                   = var.collectors_subnet_ids
  gwlb_subnet_ids              = module.mirror_target.subnet_ids
  instance_type                = var.collector_instance_type
  architecture                 = can(regex("^[a-z]+[0-9]+g", var.collector_instance_type)) ? "arm64" : "x86_64"
  target_group_arns            = [module.mirror_target.target_group_arn]
  health_check_port            = module.mirror_target.health_check_port
  deregistration_delay_seconds = local.deregistration_delay
  lake_bucket_name             = module.lake.bucket_name
  lake_prefix                  = module.lake.prefix
  lake_kms_key_arn             = module.lake.kms_key_arn
  collector_binary_url         = var.collector_binary_url
  collector_binary_sha256      = var.collector_binary_sha256
}

module "alarms" {
  source = "../../modules/alarms"

  name                    = var.name
  email_endpoints         = var.alarm_emails
  target_kind             = module.mirror_target.kind
  nlb_arn_suffix          = module.mirror_target.lb_arn_suffix
  target_group_arn_suffix = module.mirror_target.target_group_arn_suffix

  collector_metric_namespace = module.collectors.cloudwatch_namespace
  dropped_metric_name        = module.collectors.cloudwatch_metric_names["packets_dropped"]
  kernel_drops_metric_name   = module.collectors.cloudwatch_metric_names["kernel_drops"]
  dropped_metric_dimensions  = module.collectors.cloudwatch_dimensions
}

################################################################################
# Source VPC 1: in the central account
################################################################################

module "central_endpoint" {
  source = "../../modules/mirror-source-endpoint"

  name         = "${var.name}-central"
  service_name = module.mirror_target.endpoint_service_name
  vpc_id       = var.central_source.vpc_id
  subnet_id    = var.central_source.endpoint_subnet_id

  # The service must allow the account before its endpoint connects.
  depends_on = [module.mirror_target]
}

# Collectors' ENIs (tagged mirrorlake:role=collector) must never be mirror sources: they live in
# the central account, so only its source list can hold one.
data "aws_network_interfaces" "collectors" {
  filter {
    name   = "tag:mirrorlake:role"
    values = ["collector"]
  }

  lifecycle {
    postcondition {
      condition     = length(setintersection(self.ids, var.central_source.eni_ids)) == 0
      error_message = "central_source.eni_ids contains collector ENIs (${join(", ", setintersection(self.ids, var.central_source.eni_ids))}): a collector must never be a mirror source."
    }
  }
}

module "central_sessions" {
  source = "../../modules/mirror-sessions"

  name                        = "${var.name}-central"
  traffic_mirror_target_id    = module.central_endpoint.traffic_mirror_target_id
  source_eni_ids              = var.central_source.eni_ids
  excluded_eni_ids            = data.aws_network_interfaces.collectors.ids
  excluded_security_group_ids = [module.collectors.security_group_id]
  virtual_network_id          = var.central_source.virtual_network_id
  max_packet_length           = module.central_endpoint.max_packet_length
}

################################################################################
# Source VPC 2: in the member account (provider aws.member)
################################################################################

module "member_endpoint" {
  source    = "../../modules/mirror-source-endpoint"
  providers = { aws = aws.member }

  name         = "${var.name}-member"
  service_name = module.mirror_target.endpoint_service_name
  vpc_id       = var.member_source.vpc_id
  subnet_id    = var.member_source.endpoint_subnet_id

  depends_on = [module.mirror_target]
}

module "member_sessions" {
  source    = "../../modules/mirror-sessions"
  providers = { aws = aws.member }

  name                     = "${var.name}-member"
  traffic_mirror_target_id = module.member_endpoint.traffic_mirror_target_id
  source_eni_ids           = var.member_source.eni_ids
  virtual_network_id       = var.member_source.virtual_network_id
  max_packet_length        = module.member_endpoint.max_packet_length
}
