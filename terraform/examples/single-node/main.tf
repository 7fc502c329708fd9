# mirrorlake, single node: VPC Traffic Mirroring -> NLB (UDP 4789) -> collectors -> Parquet on S3
# -> Glue/Athena, with alarms. The same modules as examples/complete, without MSK and aggregators:
# the collectors run with mode = "single_node" and write the lake themselves. For small fleets
# (README, "When to use it").

provider "aws" {
  region = var.region

  default_tags {
    tags = var.tags
  }
}

data "aws_vpc" "this" {
  id = var.vpc_id
}

# Every subnet of the VPC: their IPv6 blocks (aws_vpc only reports the first IPv6 association; a
# block without a subnet holds no address to mirror from).
data "aws_subnets" "vpc" {
  filter {
    name   = "vpc-id"
    values = [var.vpc_id]
  }
}

data "aws_subnet" "vpc" {
  for_each = toset(data.aws_subnets.vpc.ids)

  id = each.value
}

# The NLB's subnets: its health checks come from its private addresses there.
data "aws_subnet" "private" {
  for_each = toset(var.private_subnet_ids)

  id = each.value
}

locals {
  # Every address of the VPC, not only its primary block: secondary IPv4 blocks
  # (cidr_block_associations) and the IPv6 blocks.
  vpc_ipv4_cidr_blocks = distinct(concat(
    [data.aws_vpc.this.cidr_block],
    [for a in data.aws_vpc.this.cidr_block_associations : a.cidr_block if a.state == "associated"],
  ))
  vpc_ipv6_cidr_blocks = distinct(compact(concat(
    [data.aws_vpc.this.ipv6_cidr_block],
    [for s in data.aws_subnet.vpc : s.ipv6_cidr_block],
  )))
  vpc_cidr_blocks           = concat(local.vpc_ipv4_cidr_blocks, local.vpc_ipv6_cidr_blocks)
  nlb_subnet_cidr_blocks    = distinct([for s in data.aws_subnet.private : s.cidr_block])
  mirror_source_cidr_blocks = coalesce(var.mirror_source_cidr_blocks, local.vpc_cidr_blocks)
  deregistration_delay      = 120
}

module "lake" {
  source = "../../modules/lake"

  name          = var.name
  bucket_name   = var.lake_bucket_name
  prefix        = var.lake_prefix
  object_lock   = var.object_lock
  force_destroy = var.force_destroy
}

module "mirror_target" {
  source = "../../modules/mirror-target"

  name                         = var.name
  vpc_id                       = var.vpc_id
  subnet_ids                   = var.private_subnet_ids
  deregistration_delay_seconds = local.deregistration_delay
  enable_deletion_protection   = var.enable_deletion_protection
}

module "collectors" {
  source = "../../modules/collectors"

  # Collectors only: no MSK, no aggregators; every collector writes its own Parquet files to the
  # lake, with exactly the S3 and KMS grants that needs (modules/collectors/README.md).
  mode = "single_node"

  name                         = var.name
  vpc_id                       = var.vpc_id
  subnet_ids                   = var.private_subnet_ids
  instance_type                = var.collector_instance_type
  architecture                 = can(regex("^[a-z]+[0-9]+g", var.collector_instance_type)) ? "arm64" : "x86_64"
  min_size                     = var.collector_min_size
  max_size                     = var.collector_max_size
  target_group_arns            = [module.mirror_target.target_group_arn]
  mirror_source_cidr_blocks    = local.mirror_source_cidr_blocks
  health_check_port            = module.mirror_target.health_check_port
  health_check_cidr_blocks     = local.nlb_subnet_cidr_blocks
  monitoring_cidr_blocks       = var.monitoring_cidr_blocks
  deregistration_delay_seconds = local.deregistration_delay
  lake_bucket_name             = module.lake.bucket_name
  lake_prefix                  = module.lake.prefix
  lake_kms_key_arn             = module.lake.kms_key_arn
  lake_file_max_age_seconds    = var.lake_file_max_age_seconds
  collector_binary_url         = var.collector_binary_url
  collector_binary_sha256      = var.collector_binary_sha256
}

# Collectors' ENIs must never become mirror sources. The collectors' launch template tags their
# ENIs mirrorlake:role=collector; filtering on that static tag (not on the security group id, which
# is unknown until it exists) lets Terraform read this at plan time, so a bad source list fails the
# plan. It also catches collectors of other mirrorlake deployments in the account. The
# security-group check inside mirror-sessions covers ENIs that are not tagged.
data "aws_network_interfaces" "collectors" {
  filter {
    name   = "tag:mirrorlake:role"
    values = ["collector"]
  }

  lifecycle {
    # Fail here, with the offending ids, before any session is planned.
    postcondition {
      condition     = length(setintersection(self.ids, var.source_eni_ids)) == 0
      error_message = "source_eni_ids contains collector ENIs (${join(", ", setintersection(self.ids, var.source_eni_ids))}): a collector must never be a mirror source."
    }
  }
}

module "mirror_sessions" {
  source = "../../modules/mirror-sessions"

  name                        = var.name
  traffic_mirror_target_id    = module.mirror_target.traffic_mirror_target_id
  source_eni_ids              = var.source_eni_ids
  excluded_eni_ids            = data.aws_network_interfaces.collectors.ids
  excluded_security_group_ids = [module.collectors.security_group_id]
  virtual_network_id          = var.virtual_network_id
  packet_length               = var.packet_length
}

module "alarms" {
  source = "../../modules/alarms"

  name                    = var.name
  email_endpoints         = var.alarm_emails
  nlb_arn_suffix          = module.mirror_target.lb_arn_suffix
  target_group_arn_suffix = module.mirror_target.target_group_arn_suffix

  # The drop counters the collectors publish (CloudWatch agent scraping their /metrics), for this
  # deployment's collector group only.
  collector_metric_namespace = module.collectors.cloudwatch_namespace
  dropped_metric_name        = module.collectors.cloudwatch_metric_names["packets_dropped"]
  kernel_drops_metric_name   = module.collectors.cloudwatch_metric_names["kernel_drops"]
  dropped_metric_dimensions  = module.collectors.cloudwatch_dimensions
}
