//! `ddl`: the Athena tables of the lake, generated from the schema crate's
//! table definitions (`TABLES`, `PARTITION_COLUMNS`) so that the Parquet
//! files, the Athena DDL, the Glue table input and Terraform's Glue table
//! (`terraform/modules/lake`) cannot drift apart: the tests below compare them.

use anyhow::{Result, bail};
use mirrorlake_schema::columns::{
    Column, PARTITION_COLUMNS, TABLES, Table, athena_column_ddl, glue_columns,
};

/// Output format of `ddl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `CREATE EXTERNAL TABLE` for the Athena console or `start-query-execution`.
    Athena,
    /// A Glue `TableInput` (`aws glue create-table --table-input file://...`),
    /// the same table Terraform's lake module creates.
    GlueJson,
}

/// Parquet input/output formats and SerDe of the Glue table (as in Terraform).
pub const INPUT_FORMAT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat";
/// See [`INPUT_FORMAT`].
pub const OUTPUT_FORMAT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat";
/// See [`INPUT_FORMAT`].
pub const SERDE: &str = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";

/// What to generate the table for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// Lake root, `s3://bucket/prefix` (the `--lake` of the writers).
    pub location: String,
    /// Glue database; `None` = unqualified table name.
    pub database: Option<String>,
    /// Table (and folder) name: one of [`TABLES`].
    pub table: String,
    /// First day of the `dt` partition projection (`yyyy-MM-dd`).
    pub projection_start: String,
}

impl TableSpec {
    /// Checks names and the location; returns the table folder URL
    /// (`s3://bucket/prefix/<table>/`).
    pub fn table_location(&self) -> Result<String> {
        let Some(rest) = self.location.strip_prefix("s3://") else {
            bail!(
                "--location {:?}: must be s3://bucket[/prefix] (Athena reads S3 only)",
                self.location
            );
        };
        let rest = rest.trim_end_matches('/');
        let bucket = rest.split('/').next().unwrap_or_default();
        if bucket.is_empty() || rest.contains("//") || rest.contains('\'') {
            bail!(
                "--location {:?}: no bucket or a malformed prefix",
                self.location
            );
        }
        let ident = |what: &str, v: &str| -> Result<()> {
            if v.is_empty()
                || !v
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                bail!("--{what} {v:?}: use lowercase letters, digits and underscores");
            }
            Ok(())
        };
        ident("table", &self.table)?;
        self.definition()?;
        if let Some(db) = &self.database {
            ident("database", db)?;
        }
        let d = self.projection_start.as_bytes();
        if d.len() != 10
            || d[4] != b'-'
            || d[7] != b'-'
            || !d
                .iter()
                .enumerate()
                .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit())
        {
            bail!(
                "--projection-start {:?}: must be yyyy-MM-dd",
                self.projection_start
            );
        }
        Ok(format!("s3://{rest}/{}/", self.table))
    }

    /// The table's definition.
    fn definition(&self) -> Result<&'static Table> {
        let Some(t) = Table::named(&self.table) else {
            let names: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
            bail!("--table {:?}: one of {}", self.table, names.join(", "));
        };
        Ok(t)
    }

    /// Table properties: Parquet with ZSTD, and partition projection on
    /// `dt`/`hour` (Athena computes partitions; no crawler, no MSCK REPAIR).
    pub fn parameters(&self) -> Result<Vec<(&'static str, String)>> {
        let loc = self.table_location()?;
        Ok(vec![
            ("EXTERNAL", "TRUE".into()),
            ("classification", "parquet".into()),
            ("parquet.compression", "ZSTD".into()),
            ("projection.enabled", "true".into()),
            ("projection.dt.type", "date".into()),
            ("projection.dt.format", "yyyy-MM-dd".into()),
            (
                "projection.dt.range",
                format!("{},NOW", self.projection_start),
            ),
            ("projection.dt.interval", "1".into()),
            ("projection.dt.interval.unit", "DAYS".into()),
            ("projection.hour.type", "integer".into()),
            ("projection.hour.range", "0,23".into()),
            ("projection.hour.digits", "2".into()),
            (
                "storage.location.template",
                format!("{loc}dt=${{dt}}/hour=${{hour}}/"),
            ),
        ])
    }

    fn description(&self, loc: &str) -> String {
        format!(
            "mirrorlake {}: Parquet under {loc}, partitioned dt=yyyy-MM-dd/hour=HH (UTC)",
            self.table
        )
    }

    /// The Athena `CREATE EXTERNAL TABLE` statement.
    pub fn athena(&self) -> Result<String> {
        let loc = self.table_location()?;
        let name = match &self.database {
            Some(db) => format!("`{db}`.`{}`", self.table),
            None => format!("`{}`", self.table),
        };
        let cols = |cs: &[Column]| {
            cs.iter()
                .map(|c| format!("  {}", athena_column_ddl(c)))
                .collect::<Vec<_>>()
                .join(",\n")
        };
        let props = self
            .parameters()?
            .into_iter()
            // EXTERNAL is implied by CREATE EXTERNAL TABLE.
            .filter(|(k, _)| *k != "EXTERNAL")
            .map(|(k, v)| format!("  '{k}'='{v}'"))
            .collect::<Vec<_>>()
            .join(",\n");
        Ok(format!(
            "CREATE EXTERNAL TABLE IF NOT EXISTS {name} (\n{}\n)\nPARTITIONED BY (\n{}\n)\nSTORED AS PARQUET\nLOCATION '{loc}'\nTBLPROPERTIES (\n{props}\n);\n",
            cols(self.definition()?.columns),
            cols(PARTITION_COLUMNS),
        ))
    }

    /// The Glue `TableInput` JSON (what Terraform's `aws_glue_catalog_table` creates).
    pub fn glue_table_input(&self) -> Result<serde_json::Value> {
        let loc = self.table_location()?;
        // Glue's API spells the column keys with capitals.
        let glue = |cs: &[Column]| -> Vec<serde_json::Value> {
            glue_columns(cs)
                .into_iter()
                .map(|c| {
                    serde_json::json!({"Name": c["name"], "Type": c["type"], "Comment": c["comment"]})
                })
                .collect()
        };
        let params: serde_json::Map<String, serde_json::Value> = self
            .parameters()?
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.into()))
            .collect();
        Ok(serde_json::json!({
            "Name": self.table,
            "Description": self.description(&loc),
            "TableType": "EXTERNAL_TABLE",
            "Parameters": params,
            "PartitionKeys": glue(PARTITION_COLUMNS),
            "StorageDescriptor": {
                "Location": loc,
                "InputFormat": INPUT_FORMAT,
                "OutputFormat": OUTPUT_FORMAT,
                "SerdeInfo": {
                    "Name": "parquet",
                    "SerializationLibrary": SERDE,
                    "Parameters": {"serialization.format": "1"}
                },
                "Columns": glue(self.definition()?.columns),
            },
        }))
    }

    /// The chosen output.
    pub fn render(&self, format: Format) -> Result<String> {
        match format {
            Format::Athena => self.athena(),
            Format::GlueJson => {
                let mut s = serde_json::to_string_pretty(&self.glue_table_input()?)?;
                s.push('\n');
                Ok(s)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn spec(location: &str) -> TableSpec {
        TableSpec {
            location: location.into(),
            database: Some("mirrorlake".into()),
            table: "packets".into(),
            projection_start: "2024-01-01".into(),
        }
    }

    fn repo_file(rel: &str) -> String {
        let p = mirrorlake_schema::manifest_dir!().join("..").join(rel);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
    }

    /// `(name, type)` of the columns inside `PARTITIONED BY (...)` or the
    /// table's column list, parsed back out of the DDL text.
    fn ddl_columns(ddl: &str, after: &str) -> Vec<(String, String)> {
        let start = ddl.find(after).expect("section") + after.len();
        let body = &ddl[start..];
        let body = &body[..body.find("\n)").expect("end of list")];
        body.lines()
            .filter(|l| l.trim_start().starts_with('`'))
            .map(|l| {
                let mut it = l.split_whitespace();
                let name = it.next().expect("name").trim_matches('`').to_owned();
                let ty = it.next().expect("type").to_owned();
                (name, ty)
            })
            .collect()
    }

    fn json_columns(text: &str) -> Vec<(String, String)> {
        let v: Vec<serde_json::Value> = serde_json::from_str(text).expect("columns json");
        v.iter()
            .map(|c| {
                (
                    c["name"].as_str().expect("name").to_owned(),
                    c["type"].as_str().expect("type").to_owned(),
                )
            })
            .collect()
    }

    /// `(name, athena type)` rows of each table's section in `docs/schema.md`.
    fn docs_columns() -> BTreeMap<String, Vec<(String, String)>> {
        let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        let mut table = String::new();
        for l in repo_file("docs/schema.md").lines() {
            if let Some(t) = l.strip_prefix("## `") {
                table = t.trim_end_matches('`').to_owned();
            } else if l.starts_with("| `") {
                let f: Vec<&str> = l.split('|').map(str::trim).collect();
                out.entry(table.clone()).or_default().push((
                    f[1].trim_matches('`').to_owned(),
                    f[3].trim_matches('`').to_owned(),
                ));
            }
        }
        out
    }

    #[test]
    fn athena_ddl_columns_equal_terraform_and_docs() {
        let docs = docs_columns();
        assert_eq!(docs.len(), TABLES.len(), "docs/schema.md sections");
        for t in TABLES {
            let mut s = spec("s3://b/lake");
            s.table = t.name.into();
            let ddl = s.athena().expect("ddl");
            let cols = ddl_columns(
                &ddl,
                &format!("IF NOT EXISTS `mirrorlake`.`{}` (\n", t.name),
            );
            assert_eq!(
                cols,
                json_columns(&repo_file(&format!(
                    "terraform/modules/lake/schema/{}.columns.json",
                    t.name
                ))),
                "{}: DDL columns drifted from the Glue columns file Terraform reads",
                t.name
            );
            assert_eq!(
                ddl_columns(&ddl, "PARTITIONED BY (\n"),
                json_columns(&repo_file(
                    "terraform/modules/lake/schema/partition_keys.json"
                ))
            );
            assert_eq!(
                ddl_columns(&ddl, "PARTITIONED BY (\n"),
                vec![
                    ("dt".to_owned(), "string".to_owned()),
                    ("hour".to_owned(), "string".to_owned())
                ]
            );
            // docs/schema.md lists the same names and Athena types, in order.
            let mut all = cols.clone();
            all.extend(ddl_columns(&ddl, "PARTITIONED BY (\n"));
            assert_eq!(Some(&all), docs.get(t.name), "{}", t.name);
            for (name, ty) in &cols {
                assert!(
                    ["timestamp", "string", "int", "bigint", "boolean", "binary"]
                        .contains(&ty.as_str()),
                    "{name}: {ty} is not an Athena-safe type"
                );
            }
            // Hive-dialect SQL parser (sqlparser, as in DataFusion) accepts it
            // (the flows table has columns named `start` and `end`).
            let dialect = datafusion::sql::sqlparser::dialect::HiveDialect {};
            datafusion::sql::sqlparser::parser::Parser::parse_sql(&dialect, &ddl)
                .unwrap_or_else(|e| panic!("DDL does not parse: {e}\n{ddl}"));
        }
        let mut s = spec("s3://b");
        s.table = "flow".into();
        let e = s.athena().expect_err("unknown table");
        assert!(e.to_string().contains("one of packets, flows"), "{e}");
    }

    #[test]
    fn athena_ddl_shape() {
        let ddl = spec("s3://bucket/some/prefix/").athena().expect("ddl");
        for want in [
            "CREATE EXTERNAL TABLE IF NOT EXISTS `mirrorlake`.`packets` (\n  `ts` timestamp COMMENT",
            "STORED AS PARQUET\nLOCATION 's3://bucket/some/prefix/packets/'\n",
            "'parquet.compression'='ZSTD'",
            "'projection.enabled'='true'",
            "'projection.dt.range'='2024-01-01,NOW'",
            "'projection.hour.digits'='2'",
            "'storage.location.template'='s3://bucket/some/prefix/packets/dt=${dt}/hour=${hour}/'",
        ] {
            assert!(ddl.contains(want), "missing {want:?} in\n{ddl}");
        }
        assert!(!ddl.contains("'EXTERNAL'"));
        // Hive-dialect SQL parser (sqlparser, as in DataFusion) accepts it.
        let dialect = datafusion::sql::sqlparser::dialect::HiveDialect {};
        let parsed = datafusion::sql::sqlparser::parser::Parser::parse_sql(&dialect, &ddl)
            .unwrap_or_else(|e| panic!("DDL does not parse: {e}\n{ddl}"));
        assert_eq!(parsed.len(), 1);
        let unqualified = TableSpec {
            database: None,
            ..spec("s3://b")
        };
        assert!(
            unqualified
                .athena()
                .expect("ddl")
                .contains("EXISTS `packets` (")
        );
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "/local/path",
            "s3://",
            "s3:///x",
            "s3://b//x",
            "s3://b/it's",
        ] {
            assert!(spec(bad).athena().is_err(), "{bad}");
        }
        let mut s = spec("s3://b");
        s.table = "Packets".into();
        assert!(s.athena().is_err());
        let mut s = spec("s3://b");
        s.database = Some("db-1".into());
        assert!(s.athena().is_err());
        let mut s = spec("s3://b");
        s.projection_start = "2024-1-1".into();
        assert!(s.athena().is_err());
    }

    /// `"key" = "value"` lines of the Glue table's `parameters` block in
    /// Terraform's lake module, with Terraform's interpolations replaced by
    /// the values the test spec uses.
    fn terraform_parameters(main_tf: &str) -> BTreeMap<String, String> {
        let start = main_tf
            .find("resource \"aws_glue_catalog_table\"")
            .expect("glue table resource");
        let rest = &main_tf[start..];
        let block = &rest[rest.find("parameters = {").expect("parameters")..];
        let block = &block[..block.find("\n  }").expect("end of parameters")];
        block
            .lines()
            .filter_map(|l| {
                let (k, v) = l.split_once('=')?;
                let k = k.trim().strip_prefix('"')?.strip_suffix('"')?;
                let v = v.trim().strip_prefix('"')?.strip_suffix('"')?;
                let v = v
                    .replace("${var.projection_start_date}", "2024-01-01")
                    .replace("${local.bucket_name}", "BUCKET")
                    .replace("${local.key_prefix}", "PREFIX/")
                    .replace("${each.key}", "packets")
                    .replace("$${", "${");
                Some((k.to_owned(), v))
            })
            .collect()
    }

    #[test]
    fn glue_json_matches_terraform_glue_table() {
        let s = spec("s3://BUCKET/PREFIX");
        let v = s.glue_table_input().expect("glue");
        let main_tf = repo_file("terraform/modules/lake/main.tf");
        let ours: BTreeMap<String, String> = v["Parameters"]
            .as_object()
            .expect("params")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().expect("string").to_owned()))
            .collect();
        assert_eq!(
            ours,
            terraform_parameters(&main_tf),
            "Glue parameters drifted from terraform/modules/lake/main.tf"
        );
        for s in [
            INPUT_FORMAT,
            OUTPUT_FORMAT,
            SERDE,
            "\"serialization.format\" = \"1\"",
        ] {
            assert!(main_tf.contains(s), "terraform lacks {s}");
        }
        assert_eq!(
            v["StorageDescriptor"]["Location"],
            "s3://BUCKET/PREFIX/packets/"
        );
        let cols: Vec<(String, String)> = v["StorageDescriptor"]["Columns"]
            .as_array()
            .expect("columns")
            .iter()
            .map(|c| {
                (
                    c["Name"].as_str().expect("n").to_owned(),
                    c["Type"].as_str().expect("t").to_owned(),
                )
            })
            .collect();
        assert_eq!(
            cols,
            json_columns(&repo_file(
                "terraform/modules/lake/schema/packets.columns.json"
            ))
        );
        assert_eq!(v["PartitionKeys"][1]["Name"], "hour");
        // Rendering is valid JSON and round-trips.
        let text = s.render(Format::GlueJson).expect("render");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).expect("json"),
            v
        );
    }
}
