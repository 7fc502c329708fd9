# Offline plan-time tests with a mocked AWS provider (no credentials, no network).
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
}

variables {
  name                      = "mltest"
  vpc_id                    = "vpc-0123456789abcdef0"
  subnet_ids                = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1", "subnet-0123456789abcdef2"]
  client_security_group_ids = ["sg-0123456789abcdef0"]
}

run "provisioned_tls_and_iam_only" {
  command = plan

  assert {
    condition = (
      aws_msk_cluster.this[0].encryption_info[0].encryption_in_transit[0].client_broker == "TLS" &&
      aws_msk_cluster.this[0].encryption_info[0].encryption_in_transit[0].in_cluster == true
    )
    error_message = "TLS in transit (client-broker and in-cluster) required"
  }

  assert {
    condition = (
      aws_msk_cluster.this[0].client_authentication[0].sasl[0].iam == true &&
      aws_msk_cluster.this[0].client_authentication[0].unauthenticated == false
    )
    error_message = "IAM auth only"
  }

  # mirrorlake's clients speak MSK IAM (SASL/OAUTHBEARER) themselves: no SCRAM or mTLS listener.
  assert {
    condition = (
      coalesce(aws_msk_cluster.this[0].client_authentication[0].sasl[0].scram, false) == false &&
      length(aws_msk_cluster.this[0].client_authentication[0].tls) == 0
    )
    error_message = "no SASL/SCRAM and no mTLS client authentication: IAM is the only listener"
  }

  assert {
    condition     = length(aws_msk_serverless_cluster.this) == 0 && length(aws_kms_key.this) == 1
    error_message = "provisioned by default, with a created CMK"
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.clients_sg[0].from_port == 9098
    error_message = "clients reach the brokers on 9098 (IAM)"
  }
}

run "message_size_settings_are_consistent" {
  command = plan

  variables {
    message_max_bytes = 4194304
  }

  assert {
    condition = (
      strcontains(aws_msk_configuration.this[0].server_properties, "message.max.bytes=4194304") &&
      strcontains(aws_msk_configuration.this[0].server_properties, "replica.fetch.max.bytes=4194304") &&
      strcontains(aws_msk_configuration.this[0].server_properties, "replica.fetch.response.max.bytes=10485760") &&
      strcontains(aws_msk_configuration.this[0].server_properties, "auto.create.topics.enable=false")
    )
    error_message = "message.max.bytes and replica.fetch.max.bytes must move together"
  }

  assert {
    condition     = output.topic_config.configs["max.message.bytes"] == "4194304" && output.topic_config.name == "mirrorlake.packets"
    error_message = "the topic's max.message.bytes must match the broker setting"
  }

  assert {
    condition     = output.topic_config.replication_factor == 3 && output.topic_config.configs["min.insync.replicas"] == "2"
    error_message = "replication factor 3 with min.insync.replicas 2 expected"
  }
}

run "serverless" {
  command = plan

  variables {
    serverless = true
  }

  assert {
    condition     = length(aws_msk_cluster.this) == 0 && length(aws_msk_serverless_cluster.this) == 1
    error_message = "serverless switch must create only the serverless cluster"
  }

  assert {
    condition     = aws_msk_serverless_cluster.this[0].client_authentication[0].sasl[0].iam[0].enabled == true
    error_message = "serverless must use IAM auth"
  }

  assert {
    condition     = length(aws_kms_key.this) == 0 && length(aws_cloudwatch_log_group.this) == 0
    error_message = "serverless needs neither a CMK nor a broker log group"
  }
}

run "rejects_brokers_not_multiple_of_azs" {
  command = plan

  variables {
    number_of_broker_nodes = 4
  }

  expect_failures = [aws_msk_cluster.this]
}

run "rejects_oversized_messages" {
  command = plan

  variables {
    message_max_bytes = 16777216
  }

  expect_failures = [var.message_max_bytes]
}
