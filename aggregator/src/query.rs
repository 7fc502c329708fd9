//! `query`: SQL over the lake (the session lives in `mirrorlake_lake::sql`)
//! rendered as a table, CSV or JSON lines. The session registers Trino's
//! `bitwise_and` and `bitwise_or_agg` too, so Athena's named queries
//! (`terraform/modules/lake/queries/`) run here unchanged.

use anyhow::Result;
use arrow::record_batch::RecordBatch;
use mirrorlake_lake::Lake;

/// Output format of `query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned text table.
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON object per row.
    Json,
}

/// Runs one SQL statement over the lake.
pub async fn run(lake: &Lake, sql: &str) -> Result<Vec<RecordBatch>> {
    Ok(mirrorlake_lake::sql::query(lake, sql).await?)
}

/// Renders batches in the chosen format.
pub fn render(batches: &[RecordBatch], format: Format, out: &mut dyn std::io::Write) -> Result<()> {
    let batches = batches
        .iter()
        .map(mirrorlake_schema::display::for_display)
        .collect::<Result<Vec<_>, _>>()?;
    let batches = &batches[..];
    match format {
        Format::Table => writeln!(
            out,
            "{}",
            arrow::util::pretty::pretty_format_batches(batches)?
        )?,
        Format::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(out);
            for b in batches {
                w.write(b)?;
            }
        }
        Format::Json => {
            let mut w = arrow::json::LineDelimitedWriter::new(out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
    }
    Ok(())
}
