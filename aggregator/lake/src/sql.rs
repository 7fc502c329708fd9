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
    Ok(ctx)
}

/// Runs one SQL statement over the lake and collects the result.
pub async fn query(lake: &Lake, sql: &str) -> Result<Vec<RecordBatch>, DataFusionError> {
    let ctx = session(lake).await?;
    ctx.sql(sql).await?.collect().await
}
