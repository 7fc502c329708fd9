# mirrorlake, complete: VPC Traffic Mirroring -> NLB (UDP 4789) -> collectors -> MSK ->
# aggregators -> Parquet on S3 -> Glue/Athena, with alarms on the silent failure modes.
# mirror_target_kind = "gwlb" puts a Gateway Load Balancer in front of the collectors instead
# (mirror sessions -> this VPC's GWLB endpoint -> GWLB -> GENEVE/UDP 6081 -> collectors); other
# VPCs and accounts then connect endpoints of their own (examples/multi-account).

provider "aws" {
  region = var.region

  default_tags {
    tags = var.tags
  }
}

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

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
  gwlb                      = var.mirror_target_kind == "gwlb"
  # With the GWLB, the sources of this VPC send to their own endpoint's mirror target.
  traffic_mirror_target_id = local.gwlb ? module.source_endpoint[0].traffic_mirror_target_id : module.mirror_target.traffic_mirror_target_id
  # A GWLB endpoint carries 8,500 bytes of IP: a null packet_length becomes its maximum (8,446).
  packet_length        = var.packet_length != null ? var.packet_length : (local.gwlb ? module.source_endpoint[0].max_packet_length : null)
  topic                = "mirrorlake.packets"
  consumer_group       = "mirrorlake-aggregator"
  deregistration_delay = 120
}

module "lake" {
  source = "../../modules/lake"

  name          = var.name
  bucket_name   = var.lake_bucket_name
  prefix        = var.lake_prefix
  object_lock   = var.object_lock
  force_destroy = var.force_destroy
}

module "msk" {
  source = "../../modules/msk"

  name                      = var.name
  serverless                = var.msk_serverless
  vpc_id                    = var.vpc_id
  subnet_ids                = var.private_subnet_ids
  number_of_broker_nodes    = length(var.private_subnet_ids) == 3 ? 3 : 2 * length(var.private_subnet_ids)
  topic_name                = local.topic
  expected_ingress_gbps     = var.expected_ingress_gbps
  topic_retention_hours     = var.kafka_retention_hours
  alarm_actions             = [module.alarms.sns_topic_arn]
  client_security_group_ids = [module.collectors.security_group_id, module.aggregators.security_group_id]
}

module "mirror_target" {
  source = "../../modules/mirror-target"

  kind                         = var.mirror_target_kind
  name                         = var.name
  vpc_id                       = var.vpc_id
  subnet_ids                   = var.private_subnet_ids
  deregistration_delay_seconds = local.deregistration_delay
  enable_deletion_protection   = var.enable_deletion_protection
  # gwlb: this account (its own endpoint below) and the accounts listed.
  allowed_principals = local.gwlb ? distinct(concat(["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"], var.gwlb_allowed_principals)) : []
}

# gwlb: this VPC's sources reach the GWLB through an endpoint of their own, like any other VPC's.
module "source_endpoint" {
  source = "../../modules/mirror-source-endpoint"
  count  = local.gwlb ? 1 : 0

  name         = var.name
  service_name = module.mirror_target.endpoint_service_name
  vpc_id       = var.vpc_id
  subnet_id    = coalesce(var.gwlb_endpoint_subnet_id, var.private_subnet_ids[0])

  # The endpoint service must allow this account before the endpoint connects.
  depends_on = [module.mirror_target]
}

module "collectors" {
  source = "../../modules/collectors"

  name                           = var.name
  vpc_id                         = var.vpc_id
  subnet_ids                     = var.private_subnet_ids
  instance_type                  = var.collector_instance_type
  architecture                   = can(regex("^[a-z]+[0-9]+g", var.collector_instance_type)) ? "arm64" : "x86_64"
  target_group_arns              = [module.mirror_target.target_group_arn]
  target_kind                    = module.mirror_target.kind
  gwlb_subnet_ids                = local.gwlb ? module.mirror_target.subnet_ids : null
  mirror_source_cidr_blocks      = local.gwlb ? [] : local.mirror_source_cidr_blocks
  health_check_port              = module.mirror_target.health_check_port
  health_check_cidr_blocks       = local.gwlb ? [] : local.nlb_subnet_cidr_blocks
  monitoring_cidr_blocks         = var.monitoring_cidr_blocks
  deregistration_delay_seconds   = local.deregistration_delay
  kafka_bootstrap_brokers        = module.msk.bootstrap_brokers_sasl_iam
  kafka_topic                    = local.topic
  kafka_topic_partitions         = module.msk.topic_partitions
  kafka_topic_replication_factor = module.msk.replication_factor
  msk_cluster_arn                = module.msk.cluster_arn
  kafka_security_group_ids       = [module.msk.security_group_id]
  collector_binary_url           = var.collector_binary_url
  collector_binary_sha256        = var.collector_binary_sha256
}

module "aggregators" {
  source = "../../modules/aggregators"

  name                     = var.name
  vpc_id                   = var.vpc_id
  subnet_ids               = var.private_subnet_ids
  kafka_bootstrap_brokers  = module.msk.bootstrap_brokers_sasl_iam
  kafka_topic              = local.topic
  kafka_consumer_group     = local.consumer_group
  kafka_fetch_max_bytes    = module.msk.message_max_bytes
  msk_cluster_arn          = module.msk.cluster_arn
  kafka_security_group_ids = [module.msk.security_group_id]
  lake_bucket_name         = module.lake.bucket_name
  lake_prefix              = module.lake.prefix
  lake_kms_key_arn         = module.lake.kms_key_arn
  aggregator_binary_url    = var.aggregator_binary_url
  aggregator_binary_sha256 = var.aggregator_binary_sha256
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
  traffic_mirror_target_id    = local.traffic_mirror_target_id
  source_eni_ids              = var.source_eni_ids
  excluded_eni_ids            = data.aws_network_interfaces.collectors.ids
  excluded_security_group_ids = [module.collectors.security_group_id]
  virtual_network_id          = var.virtual_network_id
  packet_length               = var.packet_length
  max_packet_length           = local.gwlb ? module.source_endpoint[0].max_packet_length : null
  east_west_once              = var.east_west_once
  fleet_cidrs                 = var.fleet_cidrs
}

module "alarms" {
  source = "../../modules/alarms"

  name                    = var.name
  email_endpoints         = var.alarm_emails
  target_kind             = module.mirror_target.kind
  nlb_arn_suffix          = module.mirror_target.lb_arn_suffix
  target_group_arn_suffix = module.mirror_target.target_group_arn_suffix
  msk_cluster_name        = module.msk.cluster_name
  kafka_topic             = local.topic
  kafka_consumer_group    = local.consumer_group

  # The drop counters the collectors publish (CloudWatch agent scraping their /metrics), for this
  # deployment's collector group only.
  collector_metric_namespace = module.collectors.cloudwatch_namespace
  dropped_metric_name        = module.collectors.cloudwatch_metric_names["packets_dropped"]
  kernel_drops_metric_name   = module.collectors.cloudwatch_metric_names["kernel_drops"]
  dropped_metric_dimensions  = module.collectors.cloudwatch_dimensions
}

# Fleet-wide enrollment (optional): a Lambda keeps one session per ENI of every instance carrying
# enrollment_select_tags, on EC2 "running" events and on a schedule. ENIs that a session above
# already mirrors to the same target are skipped (never mirrored twice); collectors (tagged
# mirrorlake:role=collector) and mirror-target ENIs are never enrolled.
module "enrollment" {
  source = "../../modules/enrollment"
  count  = var.enrollment_lambda_zip_path == null ? 0 : 1

  name                     = var.name
  lambda_zip_path          = var.enrollment_lambda_zip_path
  traffic_mirror_target_id = local.traffic_mirror_target_id
  traffic_mirror_filter_id = module.mirror_sessions.traffic_mirror_filter_id
  select_tags              = var.enrollment_select_tags
  deployment               = var.name
  deployment_instance_tags = [module.collectors.instance_tags, module.aggregators.instance_tags]
  vpc_ids                  = [var.vpc_id]
  vni_overrides            = var.virtual_network_id == null ? {} : { (var.vpc_id) = var.virtual_network_id }
  packet_length            = local.packet_length
  alarm_actions            = [module.alarms.sns_topic_arn]
}
