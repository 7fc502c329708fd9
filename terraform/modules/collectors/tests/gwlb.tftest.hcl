# Issue 24 (3): collectors behind a Gateway Load Balancer (target_kind = "gwlb"). Offline plan-time
# tests with a mocked AWS provider (no credentials, no network). The NLB path is pinned by
# collectors.tftest.hcl and single_node.tftest.hcl.
mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { name = "ap-northeast-1" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "111122223333" }
  }
  mock_data "aws_ssm_parameter" {
    defaults = { insecure_value = "ami-0123456789abcdef0" }
  }
}

# The GWLB's subnets, as EC2 reports them.
override_data {
  target = data.aws_subnet.gwlb["subnet-0123456789abcdef0"]
  values = { cidr_block = "10.20.1.0/24" }
}

override_data {
  target = data.aws_subnet.gwlb["subnet-0123456789abcdef1"]
  values = { cidr_block = "10.20.2.0/24" }
}

variables {
  target_kind             = "gwlb"
  name                    = "mltest"
  vpc_id                  = "vpc-0123456789abcdef0"
  subnet_ids              = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
  target_group_arns       = ["arn:aws:elasticloadbalancing:ap-northeast-1:111122223333:targetgroup/mltest-geneve/0123456789abcdef"]
  kafka_cidr_blocks       = ["10.20.0.0/16"]
  kafka_bootstrap_brokers = "b-1.mltest.kafka.ap-northeast-1.amazonaws.com:9098,b-2.mltest.kafka.ap-northeast-1.amazonaws.com:9098"
  msk_cluster_arn         = "arn:aws:kafka:ap-northeast-1:111122223333:cluster/mltest/0f0e0d0c-0b0a-0908-0706-050403020100-1"
  collector_binary_url    = "https://artifacts.example.com/mirrorlake-collector-x86_64.tar.gz"
  # No mirror_source_cidr_blocks and no health_check_cidr_blocks: the GWLB path needs neither.
}

run "config_listens_for_geneve" {
  command = plan

  assert {
    # Top-level keys, before the first [table]: the collector reads geneve_listen as its own.
    condition     = strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/mirrorlake/collector.toml"]), "\nlisten = \"0.0.0.0:4789\"\n# Gateway Load Balancer path (target_kind = \"gwlb\"): the GWLB sends every mirror\n# session's VXLAN datagram wrapped in GENEVE to UDP 6081, from its own\n# addresses; the collector takes it on sockets of its own. listen stays open (VXLAN\n# straight from an NLB) and receives nothing on this path.\ngeneve_listen = \"0.0.0.0:6081\"\nhttp = \"0.0.0.0:9090\"\n")
    error_message = "collector.toml must set geneve_listen = \"0.0.0.0:6081\" among the top-level keys"
  }

  assert {
    condition     = strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/mirrorlake/collector.toml"]), "\n[kafka]\nbrokers = \"b-1.mltest.kafka.ap-northeast-1.amazonaws.com:9098,b-2.mltest.kafka.ap-northeast-1.amazonaws.com:9098\"\n")
    error_message = "the rest of the cluster config is unchanged"
  }
}

run "single_node_config_listens_for_geneve" {
  command = plan

  variables {
    mode             = "single_node"
    lake_bucket_name = "mltest-lake-111122223333-ap-northeast-1"
  }

  assert {
    condition = (
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/mirrorlake/collector.toml"]), "\ngeneve_listen = \"0.0.0.0:6081\"\nhttp = \"0.0.0.0:9090\"\n") &&
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/mirrorlake/collector.toml"]), "\nlake = \"s3://mltest-lake-111122223333-ap-northeast-1/mirrorlake\"\n")
    )
    error_message = "the single-node collector.toml must set geneve_listen too"
  }
}

run "security_group_admits_the_gwlb_subnets" {
  command = plan

  assert {
    condition = (
      toset(keys(aws_vpc_security_group_ingress_rule.gwlb_geneve)) == toset(var.subnet_ids) &&
      aws_vpc_security_group_ingress_rule.gwlb_geneve["subnet-0123456789abcdef0"].cidr_ipv4 == "10.20.1.0/24" &&
      aws_vpc_security_group_ingress_rule.gwlb_geneve["subnet-0123456789abcdef1"].cidr_ipv4 == "10.20.2.0/24" &&
      alltrue([for r in aws_vpc_security_group_ingress_rule.gwlb_geneve : r.ip_protocol == "udp" && r.from_port == 6081 && r.to_port == 6081])
    )
    error_message = "UDP 6081 (GENEVE) must be open from every GWLB subnet's block"
  }

  assert {
    condition = (
      toset(keys(aws_vpc_security_group_ingress_rule.gwlb_health)) == toset(var.subnet_ids) &&
      aws_vpc_security_group_ingress_rule.gwlb_health["subnet-0123456789abcdef1"].cidr_ipv4 == "10.20.2.0/24" &&
      alltrue([for r in aws_vpc_security_group_ingress_rule.gwlb_health : r.ip_protocol == "tcp" && r.from_port == 9090 && r.to_port == 9090])
    )
    error_message = "the health port must be open from every GWLB subnet's block (the GWLB's health checks)"
  }

  assert {
    condition = (
      length(aws_vpc_security_group_ingress_rule.vxlan) == 0 &&
      length(aws_vpc_security_group_ingress_rule.health_cidr) == 0 &&
      output.ingress_cidr_blocks.gwlb == tolist(["10.20.1.0/24", "10.20.2.0/24"])
    )
    error_message = "without CIDR lists, only the GWLB's subnets are admitted"
  }

  assert {
    # Same registration and draining as behind the NLB.
    condition = (
      toset(module.fleet.autoscaling_group.target_group_arns) == toset(var.target_group_arns) &&
      module.fleet.autoscaling_group.health_check_type == "EC2" &&
      strcontains(one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/mirrorlake/collector.toml"]), "\ndrain_ms = 120000\n")
    )
    error_message = "the ASG registers with the GENEVE target group, EC2 health checks, drain_ms from the deregistration delay"
  }
}

# The GWLB in subnets of its own (the mirror-target module's subnet_ids output).
run "gwlb_subnets_of_their_own" {
  command = plan

  variables {
    gwlb_subnet_ids = ["subnet-0bbbbbbbbbbbbbbb1"]
  }

  override_data {
    target = data.aws_subnet.gwlb["subnet-0bbbbbbbbbbbbbbb1"]
    values = { cidr_block = "10.20.9.0/28" }
  }

  assert {
    condition = (
      toset(keys(aws_vpc_security_group_ingress_rule.gwlb_geneve)) == toset(["subnet-0bbbbbbbbbbbbbbb1"]) &&
      aws_vpc_security_group_ingress_rule.gwlb_geneve["subnet-0bbbbbbbbbbbbbbb1"].cidr_ipv4 == "10.20.9.0/28" &&
      aws_vpc_security_group_ingress_rule.gwlb_health["subnet-0bbbbbbbbbbbbbbb1"].cidr_ipv4 == "10.20.9.0/28"
    )
    error_message = "gwlb_subnet_ids must replace the collectors' subnets as the GWLB's"
  }
}

# A health-check block equal to a GWLB subnet's would be a duplicate rule, refused by EC2 at apply.
run "rejects_health_block_repeating_a_gwlb_subnet" {
  command = plan

  variables {
    health_check_cidr_blocks = ["10.20.1.0/24"]
  }

  expect_failures = [aws_security_group.this]
}

# Behind a GWLB, a config of the caller's without geneve_listen receives nothing.
run "rejects_own_config_without_geneve_listen" {
  command = plan

  variables {
    collector_config_toml = "listen = \"0.0.0.0:4789\"\n[kafka]\nbrokers = \"b-1:9098\"\n"
  }

  expect_failures = [aws_security_group.this]
}

run "own_config_with_geneve_listen" {
  command = plan

  variables {
    collector_config_toml = "geneve_listen = \"0.0.0.0:6081\"\n[kafka]\nbrokers = \"b-1:9098\"\n"
  }

  assert {
    condition     = one([for f in yamldecode(output.user_data).write_files : f.content if f.path == "/etc/mirrorlake/collector.toml"]) == var.collector_config_toml
    error_message = "collector_config_toml is used verbatim"
  }
}

run "rejects_unknown_target_kind" {
  command = plan

  variables {
    target_kind = "alb"
  }

  expect_failures = [var.target_kind]
}
