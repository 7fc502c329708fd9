//! SQL over the lake with DataFusion: table `packets` (partition columns
//! `dt`, `hour` from the path, pruned by predicates on them), Parquet
//! predicates pushed into the scan (statistics, page indexes, bloom filters).
//! One session definition for every reader: `query`, `loadtest verify`.

use crate::{Lake, TABLE_PACKETS};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::prelude::{SessionConfig, SessionContext};
use mirrorlake_schema::packet_schema;
use std::sync::Arc;

/// A DataFusion session with the lake's tables registered.
pub async fn session(lake: &Lake) -> Result<SessionContext, DataFusionError> {
    let config = SessionConfig::new()
        .set_bool("datafusion.execution.parquet.pushdown_filters", true)
        .set_bool("datafusion.execution.parquet.reorder_filters", true);
    let ctx = SessionContext::new_with_config(config);
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
    let url = ListingTableUrl::parse(lake.table_url(TABLE_PACKETS).as_str())?;
    let table = ListingTable::try_new(
        ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(packet_schema()),
    )?;
    ctx.register_table(TABLE_PACKETS, Arc::new(table))?;
    ctx.register_udf(bitwise_and_udf());
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

/// Runs one SQL statement over the lake and collects the result.
pub async fn query(lake: &Lake, sql: &str) -> Result<Vec<RecordBatch>, DataFusionError> {
    let ctx = session(lake).await?;
    ctx.sql(sql).await?.collect().await
}
