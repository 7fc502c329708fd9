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
  name        = "mltest"
  bucket_name = "mltest-lake"
  prefix      = "archive"
}

run "buckets_are_private_encrypted_and_tls_only" {
  command = plan

  assert {
    condition = alltrue([for k, b in aws_s3_bucket_public_access_block.this :
      b.block_public_acls && b.block_public_policy && b.ignore_public_acls && b.restrict_public_buckets
    ]) && length(aws_s3_bucket_public_access_block.this) == 2
    error_message = "all public access must be blocked on the lake and results buckets"
  }

  assert {
    condition = alltrue([for k, e in aws_s3_bucket_server_side_encryption_configuration.this :
      one(e.rule).apply_server_side_encryption_by_default[0].sse_algorithm == "aws:kms" && one(e.rule).bucket_key_enabled
    ])
    error_message = "SSE-KMS with bucket keys required"
  }

  assert {
    condition     = alltrue([for k, v in aws_s3_bucket_versioning.this : v.versioning_configuration[0].status == "Enabled"])
    error_message = "versioning must be enabled"
  }

  assert {
    condition = alltrue([for k, p in aws_s3_bucket_policy.this :
      strcontains(p.policy, "\"aws:SecureTransport\":\"false\"") && strcontains(p.policy, "\"Effect\":\"Deny\"")
    ])
    error_message = "bucket policies must deny non-TLS requests"
  }

  assert {
    condition     = length(aws_kms_key.this) == 1 && aws_kms_key.this[0].enable_key_rotation
    error_message = "a rotating customer key is created when none is passed"
  }

  assert {
    condition     = aws_s3_bucket.this["results"].bucket == "mltest-athena-111122223333-ap-northeast-1"
    error_message = "default results bucket name"
  }
}

run "glue_columns_come_from_the_schema_file" {
  command = plan

  assert {
    condition = [for c in aws_glue_catalog_table.this["packets"].storage_descriptor[0].columns : {
      name    = c.name
      type    = c.type
      comment = c.comment
    }] == jsondecode(file("schema/packets.columns.json"))
    error_message = "Glue columns must equal schema/packets.columns.json, in order"
  }

  assert {
    condition = alltrue([
      for c in ["ts", "src_ip", "dst_ip", "src_port", "dst_port", "protocol", "tcp_flags", "community_id", "wire_len", "vni", "mirror_source"] :
      contains([for col in aws_glue_catalog_table.this["packets"].storage_descriptor[0].columns : col.name], c)
    ])
    error_message = "the packets table lacks a column that queries/*.sql use"
  }

  assert {
    condition     = keys(aws_glue_catalog_table.this) == ["flows", "packets"]
    error_message = "the lake has the packets and the flows table"
  }

  assert {
    condition = [for c in aws_glue_catalog_table.this["flows"].storage_descriptor[0].columns : {
      name    = c.name
      type    = c.type
      comment = c.comment
    }] == jsondecode(file("schema/flows.columns.json"))
    error_message = "Glue columns of flows must equal schema/flows.columns.json, in order"
  }

  assert {
    condition     = aws_glue_catalog_table.this["flows"].parameters["storage.location.template"] == "s3://mltest-lake/archive/flows/dt=$${dt}/hour=$${hour}/"
    error_message = "flows are partitioned like packets"
  }

  assert {
    condition     = [for k in aws_glue_catalog_table.this["packets"].partition_keys : "${k.name}:${k.type}"] == ["dt:string", "hour:string"]
    error_message = "partition keys must be dt string and hour string"
  }

  assert {
    condition = [for k in aws_glue_catalog_table.this["packets"].partition_keys : {
      name    = k.name
      type    = k.type
      comment = k.comment
    }] == jsondecode(file("schema/partition_keys.json"))
    error_message = "Glue partition keys must equal schema/partition_keys.json"
  }

  assert {
    condition     = aws_glue_catalog_table.this["packets"].parameters["parquet.compression"] == "ZSTD"
    error_message = "the table declares ZSTD Parquet (Athena CTAS/INSERT write it too)"
  }

  assert {
    condition = (
      aws_glue_catalog_table.this["packets"].storage_descriptor[0].ser_de_info[0].serialization_library == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe" &&
      aws_glue_catalog_table.this["packets"].storage_descriptor[0].input_format == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat" &&
      aws_glue_catalog_table.this["packets"].storage_descriptor[0].location == "s3://mltest-lake/archive/packets/"
    )
    error_message = "Parquet SerDe and the packets location expected"
  }
}

run "partition_projection" {
  command = plan

  assert {
    condition = {
      for k, v in aws_glue_catalog_table.this["packets"].parameters : k => v if startswith(k, "projection.") || k == "storage.location.template"
      } == {
      "projection.enabled"          = "true"
      "projection.dt.type"          = "date"
      "projection.dt.format"        = "yyyy-MM-dd"
      "projection.dt.range"         = "2024-01-01,NOW"
      "projection.dt.interval"      = "1"
      "projection.dt.interval.unit" = "DAYS"
      "projection.hour.type"        = "integer"
      "projection.hour.range"       = "0,23"
      "projection.hour.digits"      = "2"
      "storage.location.template"   = "s3://mltest-lake/archive/packets/dt=$${dt}/hour=$${hour}/"
    }
    error_message = "partition projection properties must be complete and exact"
  }
}

run "lifecycle_rules" {
  command = plan

  assert {
    condition     = toset([for t in aws_s3_bucket_lifecycle_configuration.lake.rule[0].transition : "${t.storage_class}@${t.days}"]) == toset(["STANDARD_IA@30", "GLACIER_IR@90"])
    error_message = "tiering to STANDARD_IA at 30 days and GLACIER_IR at 90 days expected"
  }

  assert {
    condition = (
      aws_s3_bucket_lifecycle_configuration.lake.rule[0].expiration[0].days == 365 &&
      aws_s3_bucket_lifecycle_configuration.lake.rule[0].noncurrent_version_expiration[0].noncurrent_days == 30 &&
      aws_s3_bucket_lifecycle_configuration.lake.rule[2].abort_incomplete_multipart_upload[0].days_after_initiation == 3 &&
      aws_s3_bucket_lifecycle_configuration.lake.rule[0].filter[0].prefix == "archive/"
    )
    error_message = "expiration, noncurrent expiration and multipart cleanup expected on the lake prefix"
  }

  assert {
    condition     = aws_s3_bucket_lifecycle_configuration.results.rule[0].expiration[0].days == 30
    error_message = "Athena results must expire"
  }
}

run "no_object_lock_by_default" {
  command = plan

  assert {
    condition     = length(aws_s3_bucket_object_lock_configuration.lake) == 0
    error_message = "Object Lock is opt-in"
  }
}

run "object_lock_when_enabled" {
  command = plan

  variables {
    object_lock = { mode = "COMPLIANCE", retention_days = 90 }
  }

  assert {
    condition = (
      length(aws_s3_bucket_object_lock_configuration.lake) == 1 &&
      aws_s3_bucket_object_lock_configuration.lake[0].object_lock_enabled == "Enabled"
    )
    error_message = "Object Lock must be enabled on the lake bucket only, by its object lock configuration"
  }

  assert {
    condition = (
      aws_s3_bucket_object_lock_configuration.lake[0].rule[0].default_retention[0].mode == "COMPLIANCE" &&
      aws_s3_bucket_object_lock_configuration.lake[0].rule[0].default_retention[0].days == 90
    )
    error_message = "default retention must be applied"
  }
}

# Issue 23 (1): enabling Object Lock on a deployed lake must not replace the bucket (and lose the
# archive). object_lock_enabled on aws_s3_bucket forces replacement; the lock configuration does
# not. A lake applied without Object Lock, then planned with it: the bucket's object_lock_enabled
# stays what it was (false), so nothing forces a new bucket.
run "deployed_without_object_lock" {
  command = apply

  override_resource {
    target = aws_s3_bucket.this
    values = { object_lock_enabled = false }
  }

  # The provider still validates ARNs the mocks make up.
  override_resource {
    target = aws_kms_key.this
    values = { arn = "arn:aws:kms:ap-northeast-1:111122223333:key/01234567-89ab-cdef-0123-456789abcdef" }
  }
}

run "enabling_object_lock_keeps_the_bucket" {
  command = plan

  variables {
    object_lock = { mode = "GOVERNANCE", retention_days = 30 }
  }

  assert {
    condition = (
      aws_s3_bucket.this["lake"].object_lock_enabled == false &&
      aws_s3_bucket_object_lock_configuration.lake[0].object_lock_enabled == "Enabled" &&
      aws_s3_bucket_object_lock_configuration.lake[0].rule[0].default_retention[0].mode == "GOVERNANCE"
    )
    error_message = "Object Lock must be enabled through the lock configuration, leaving the deployed bucket's object_lock_enabled (a replacing attribute) alone"
  }
}

run "athena_workgroup_and_named_queries" {
  command = plan

  assert {
    condition = (
      aws_athena_workgroup.this.configuration[0].enforce_workgroup_configuration == true &&
      aws_athena_workgroup.this.configuration[0].bytes_scanned_cutoff_per_query == 107374182400 &&
      aws_athena_workgroup.this.configuration[0].result_configuration[0].encryption_configuration[0].encryption_option == "SSE_KMS" &&
      aws_athena_workgroup.this.configuration[0].result_configuration[0].output_location == "s3://mltest-athena-111122223333-ap-northeast-1/athena-results/"
    )
    error_message = "workgroup must enforce its configuration, a scan cutoff and encrypted results"
  }

  assert {
    condition = toset(keys(aws_athena_named_query.this)) == toset([
      "dns_to_unusual_resolvers.sql", "flow_by_community_id.sql", "ip_packets_in_time_range.sql", "new_tcp_connections_to_port.sql",
      "tcp_resets.sql", "top_talkers_per_hour.sql", "who_talked_to_ip.sql", "flow_top_talkers_per_hour.sql",
      "flow_conversations_of_ip.sql", "eni_packets_in_time_range.sql",
    ])
    error_message = "the ten forensic queries must be loaded from queries/*.sql"
  }

  assert {
    condition = alltrue([for q in aws_athena_named_query.this :
      q.database == "mirrorlake" && (strcontains(q.query, "FROM packets AS p") || strcontains(q.query, "FROM flows AS f")) && strcontains(q.query, "dt BETWEEN ? AND ?") && !strcontains(q.query, "$")
    ])
    error_message = "queries use the plain table name in the lake database and always restrict dt"
  }

  assert {
    condition     = strcontains(aws_athena_named_query.this["new_tcp_connections_to_port.sql"].query, "bitwise_and(p.tcp_flags, 18) = 2")
    error_message = "new connections are SYN without ACK"
  }
}

run "tables_are_data_driven" {
  command = plan

  variables {
    tables = {
      packets = "schema/packets.columns.json"
      flows   = "tests/fixtures/flows.columns.json"
    }
  }

  assert {
    condition     = toset(keys(aws_glue_catalog_table.this)) == toset(["packets", "flows"])
    error_message = "one table per columns file"
  }

  assert {
    condition     = aws_glue_catalog_table.this["flows"].parameters["storage.location.template"] == "s3://mltest-lake/archive/flows/dt=$${dt}/hour=$${hour}/"
    error_message = "each table gets its own location template"
  }
}

run "rejects_partition_column_in_schema" {
  command = plan

  variables {
    tables = { bad = "tests/fixtures/bad.columns.json" }
  }

  expect_failures = [aws_glue_catalog_table.this]
}

run "rejects_glacier_before_ia_minimum" {
  command = plan

  variables {
    transition_to_ia_days         = 30
    transition_to_glacier_ir_days = 45
  }

  expect_failures = [aws_s3_bucket_lifecycle_configuration.lake]
}

run "rejects_bad_object_lock_mode" {
  command = plan

  variables {
    object_lock = { mode = "FOREVER", retention_days = 1 }
  }

  expect_failures = [var.object_lock]
}
