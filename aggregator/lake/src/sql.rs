//! SQL over the lake with DataFusion: tables `packets` and `flows` (partition columns
//! `dt`, `hour` from the path, pruned by predicates on them), Parquet
//! predicates pushed into the scan (statistics, page indexes, bloom filters).
//! One session definition for every reader: `query`, `loadtest verify`.

use crate::Lake;
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use mirrorlake_schema::{TABLES, packet_schema};
use std::sync::Arc;

/// A DataFusion session with the lake's tables registered (memory unbounded).
pub async fn session(lake: &Lake) -> Result<SessionContext, DataFusionError> {
    session_with(lake, None).await
}

/// [`session`] whose operators (sorts above all) use at most `memory_limit`
/// bytes and spill to temporary files beyond it.
pub async fn session_with(
    lake: &Lake,
    memory_limit: Option<usize>,
) -> Result<SessionContext, DataFusionError> {
    let config = SessionConfig::new()
        .set_bool("datafusion.execution.parquet.pushdown_filters", true)
        .set_bool("datafusion.execution.parquet.reorder_filters", true);
    let ctx = match memory_limit {
        Some(limit) => {
            let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
                .with_memory_limit(limit, 1.0)
                .build_arc()?;
            // A sort that spills merges its runs holding a batch of each in
            // memory; batches of frames are megabytes at the default 8,192
            // rows, so a long hour's merge outgrew the limit.
            // One partition: one sort, no merge of partitions on top.
            let config = config.with_batch_size(1024).with_target_partitions(1);
            SessionContext::new_with_config_rt(config, runtime)
        }
        None => SessionContext::new_with_config(config),
    };
    if lake.url.scheme() != "file" {
        // Local lakes use DataFusion's own file:// store.
        ctx.register_object_store(&lake.url, lake.store.clone());
    }
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(vec![
            ("dt".into(), DataType::Utf8),
            ("hour".into(), DataType::Utf8),
        ]);
    for t in TABLES {
        let url = ListingTableUrl::parse(lake.table_url(t.name).as_str())?;
        let table = ListingTable::try_new(
            ListingTableConfig::new(url)
                .with_listing_options(options.clone())
                .with_schema(t.schema()),
        )?;
        ctx.register_table(t.name, Arc::new(table))?;
    }
    ctx.register_udf(bitwise_and_udf());
    // Trino/Athena's name for DataFusion's bit_or aggregate.
    let bit_or = datafusion::functions_aggregate::bit_and_or_xor::bit_or_udaf();
    ctx.register_udaf(bit_or.as_ref().clone().with_aliases(["bitwise_or_agg"]));
    Ok(ctx)
}

/// Trino/Athena `bitwise_and(x, y)` over BIGINT (narrower ints are coerced).
fn bitwise_and_udf() -> datafusion::logical_expr::ScalarUDF {
    use arrow::array::{ArrayRef, AsArray};
    use arrow::datatypes::Int64Type;
    use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
    create_udf(
        "bitwise_and",
        vec![DataType::Int64, DataType::Int64],
        DataType::Int64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let a = arrow::compute::cast(&arrays[0], &DataType::Int64)?;
            let b = arrow::compute::cast(&arrays[1], &DataType::Int64)?;
            let out: ArrayRef = Arc::new(arrow::compute::kernels::bitwise::bitwise_and(
                a.as_primitive::<Int64Type>(),
                b.as_primitive::<Int64Type>(),
            )?);
            if scalar {
                Ok(ColumnarValue::Scalar(
                    datafusion::scalar::ScalarValue::try_from_array(&out, 0)?,
                ))
            } else {
                Ok(ColumnarValue::Array(out))
            }
        }),
    )
}

/// Sum of a metric (e.g. the Parquet scan's `bytes_scanned`) over a plan tree.
pub fn metric_sum(plan: &Arc<dyn ExecutionPlan>, name: &str) -> usize {
    let own = plan
        .metrics()
        .and_then(|m| m.sum_by_name(name))
        .map_or(0, |v| v.as_usize());
    own + plan
        .children()
        .iter()
        .map(|c| metric_sum(c, name))
        .sum::<usize>()
}

/// A SQL predicate over the packet columns (`src_ip = '10.0.3.7' AND
/// dst_port = 443`), compiled once and evaluated on in-memory batches (the
/// live tail's `--where`; the lake's readers push the same SQL into scans).
#[derive(Debug)]
pub struct RowPredicate {
    expr: Arc<dyn datafusion::physical_expr::PhysicalExpr>,
}

impl RowPredicate {
    /// Compiles `sql` against the packet schema (type-checked: an unknown
    /// column or a non-boolean expression is an error).
    pub fn compile(sql: &str) -> Result<Self, DataFusionError> {
        let schema = datafusion::common::DFSchema::try_from(packet_schema().as_ref().clone())?;
        let ctx = SessionContext::new();
        let expr = ctx.parse_sql_expr(sql, &schema)?;
        let expr = ctx.create_physical_expr(expr, &schema)?;
        if expr.data_type(schema.as_arrow())? != DataType::Boolean {
            return Err(DataFusionError::Plan(format!(
                "{sql:?} is not a predicate (true/false)"
            )));
        }
        Ok(Self { expr })
    }

    /// The rows of `batch` (packet schema) for which the predicate is true.
    pub fn filter(&self, batch: &RecordBatch) -> Result<RecordBatch, DataFusionError> {
        let mask = self.expr.evaluate(batch)?.into_array(batch.num_rows())?;
        let mask = mask
            .as_any()
            .downcast_ref::<arrow::array::BooleanArray>()
            .ok_or_else(|| DataFusionError::Internal("predicate is not boolean".into()))?;
        Ok(arrow::compute::filter_record_batch(batch, mask)?)
    }
}

/// Runs one SQL statement over the lake and collects the result.
pub async fn query(lake: &Lake, sql: &str) -> Result<Vec<RecordBatch>, DataFusionError> {
    let ctx = session(lake).await?;
    ctx.sql(sql).await?.collect().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, RecordBatch};
    use arrow::datatypes::Int64Type;
    use mirrorlake_schema::{PacketBatchBuilder, RowMeta};

    fn write_file(dir: &std::path::Path, name: &str, batch: &RecordBatch) {
        let part = dir.join("packets/dt=1970-01-01/hour=10");
        std::fs::create_dir_all(&part).expect("mkdir");
        let f = std::fs::File::create(part.join(name)).expect("create");
        let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).expect("writer");
        w.write(batch).expect("write");
        w.close().expect("close");
    }

    /// A lake written before schema v2 stays readable after the upgrade:
    /// its files lack `arrival_seq`, which reads as null beside new files.
    #[tokio::test]
    async fn files_of_schema_v1_read_with_arrival_seq_null() {
        let mut frame = vec![0u8; 64];
        frame[12] = 0x08;
        frame[13] = 0x06;
        let d = mirrorlake_wire::decode_ethernet(&frame, None).expect("frame");
        let mut b = PacketBatchBuilder::with_capacity("t", 5, 1024);
        for i in 0..5 {
            b.append(&d, RowMeta::new(10 * crate::HOUR_US + i, 100 + i));
        }
        let v2 = b.finish().expect("rows").expect("valid");
        let keep: Vec<usize> = (0..v2.num_columns())
            .filter(|&i| v2.schema().field(i).name() != "arrival_seq")
            .collect();
        let v1 = v2.slice(0, 3).project(&keep).expect("project");
        let dir = tempfile::tempdir().expect("tmp");
        write_file(dir.path(), "new.parquet", &v2);
        write_file(dir.path(), "old.parquet", &v1);
        let lake = Lake::open(dir.path().to_str().expect("utf8")).expect("lake");
        let got = query(
            &lake,
            "SELECT count(*) AS n, count(arrival_seq) AS seq, max(arrival_seq) AS top FROM packets",
        )
        .await
        .expect("query");
        let row = |c: &str| {
            got[0]
                .column_by_name(c)
                .expect(c)
                .as_primitive::<Int64Type>()
                .value(0)
        };
        assert_eq!((row("n"), row("seq"), row("top")), (8, 5, 104));
    }
}
