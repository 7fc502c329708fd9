use crate::fixture::{Mirror, Rng};
use arrow::array::AsArray;
use arrow::record_batch::RecordBatch;
use futures::TryStreamExt;
use mirrorlake_aggregator::compact::{Options, Step, compact, discard_published};
use mirrorlake_lake::{FileConfig, HOUR_US, Lake, LakeWriter, RollPolicy, SequenceNamer};
use mirrorlake_lake::{OffsetRangeNamer, sql};
use mirrorlake_schema::PacketBatchBuilder;
use mirrorlake_wire::TransportRepr;
use object_store::ObjectStore;
use parquet::file::statistics::Statistics;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

/// 2026-01-15T00:00:00Z in microseconds.
const T0: i64 = 1_768_435_200_000_000;

/// `n` TCP packets of 12 flows between 4 ENIs and their peers, from `start`
/// one millisecond apart.
fn packets(seed: u64, n: usize, start: i64) -> RecordBatch {
    let mut rng = Rng(seed | 1);
    let mut m = Mirror::default();
    let mut b = PacketBatchBuilder::with_capacity("c1", n, n * 120);
    for i in 0..n {
        let flow = rng.below(12) as u8;
        let eni = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 10 + flow % 4));
        let peer = IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1 + flow));
        let (src, dst) = if rng.below(2) == 0 {
            (eni, peer)
        } else {
            (peer, eni)
        };
        let t = TransportRepr::Udp {
            src_port: 40_000 + u16::from(flow),
            dst_port: 443,
        };
        m.append(
            &mut b,
            (eni, 10 + flow % 4, 7),
            (src, dst, t),
            &[0u8; 40][..rng.below(40) as usize],
            start + i as i64 * 1000,
        );
    }
    b.finish().expect("rows").expect("batch")
}

/// Writes `files` files into each of `hours` hours from T0, each of `rows` rows.
async fn small_files(lake: &Lake, hours: i64, files: usize, rows: usize) {
    for f in 0..files {
        let mut w = LakeWriter::new(
            lake.clone(),
            FileConfig::default(),
            RollPolicy::default(),
            Box::new(SequenceNamer::new(&format!("w{f}"), T0)),
        );
        for h in 0..hours {
            let start = T0 + h * HOUR_US + f as i64 * 1_000_000;
            w.write(
                &packets(f as u64 * 31 + h as u64, rows, start),
                Instant::now(),
            )
            .await
            .expect("write");
        }
        w.close_all().await.expect("close");
    }
}

fn options(closed_before_us: i64) -> Options {
    Options::new(closed_before_us, 128 << 20, "test")
}

async fn ints(lake: &Lake, q: &str) -> Vec<Vec<i64>> {
    let batches = sql::query(lake, q).await.expect(q);
    let mut rows = Vec::new();
    for b in &batches {
        for r in 0..b.num_rows() {
            rows.push(
                b.columns()
                    .iter()
                    .map(|c| {
                        let c = arrow::compute::cast(c, &arrow::datatypes::DataType::Int64)
                            .expect("int");
                        c.as_primitive::<arrow::datatypes::Int64Type>().value(r)
                    })
                    .collect(),
            );
        }
    }
    rows.sort();
    rows
}

/// Per hour: packets, their bytes, distinct timestamps; and the flow totals.
async fn content(lake: &Lake) -> (Vec<Vec<i64>>, Vec<Vec<i64>>) {
    (
        ints(
            lake,
            "SELECT CAST(hour AS BIGINT), count(*), sum(wire_len), count(DISTINCT ts) FROM packets GROUP BY hour",
        )
        .await,
        ints(
            lake,
            "SELECT CAST(hour AS BIGINT), sum(packets), sum(bytes), count(DISTINCT community_id) FROM flows GROUP BY hour",
        )
        .await,
    )
}

fn files_in(objects: &[String], prefix: &str) -> usize {
    objects.iter().filter(|o| o.starts_with(prefix)).count()
}

#[tokio::test]
async fn closed_hours_become_one_file_with_every_row_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let lake = Lake::open(dir.path().to_str().expect("utf8")).expect("lake");
    small_files(&lake, 3, 5, 300).await;
    let before = content(&lake).await;
    assert_eq!(before.0.len(), 3);
    assert_eq!(before.0[0][1], 1500, "{before:?}");
    let flow_rows_before = ints(&lake, "SELECT count(*) FROM flows").await[0][0];

    // Hours 0 and 1 are closed; hour 2 is not.
    let reports = compact(&lake, &options(T0 + 2 * HOUR_US))
        .await
        .expect("compact");
    assert_eq!(reports.len(), 2, "{reports:?}");
    for r in &reports {
        assert_eq!((r.inputs, r.outputs, r.rows), (5, 1, 1500), "{r:?}");
    }
    assert_eq!(content(&lake).await, before, "no row lost or doubled");
    let objects = all_objects(&lake).await;
    assert_eq!(files_in(&objects, "packets/dt=2026-01-15/hour=00/"), 1);
    assert_eq!(files_in(&objects, "flows/dt=2026-01-15/hour=01/"), 1);
    assert_eq!(files_in(&objects, "packets/dt=2026-01-15/hour=02/"), 5);
    assert_eq!(files_in(&objects, "_mirrorlake/compacted/packets/"), 10);
    assert_eq!(
        files_in(&objects, "_mirrorlake/compaction/"),
        0,
        "{objects:#?}"
    );
    // Flow rows of one flow and minute that were split over files are one row now.
    let flow_rows_after = ints(&lake, "SELECT count(*) FROM flows").await[0][0];
    assert!(
        flow_rows_after < flow_rows_before,
        "{flow_rows_after} < {flow_rows_before}"
    );
    let dup = ints(
        &lake,
        "SELECT count(*) FROM (SELECT community_id, window_start, count(*) AS n FROM flows WHERE hour <> '02' GROUP BY 1, 2) WHERE n > 1",
    )
    .await;
    assert_eq!(dup, vec![vec![0]]);

    // Nothing left to do.
    assert!(
        compact(&lake, &options(T0 + 2 * HOUR_US))
            .await
            .expect("again")
            .is_empty()
    );
    assert_eq!(all_objects(&lake).await, objects);
}

#[tokio::test]
async fn an_interrupted_compaction_is_finished_by_the_next_run() {
    for step in [Step::Stage, Step::Journal, Step::Delete] {
        let dir = tempfile::tempdir().expect("tmp");
        let lake = Lake::open(dir.path().to_str().expect("utf8")).expect("lake");
        small_files(&lake, 1, 4, 200).await;
        let before = content(&lake).await;
        let crash = Options {
            stop_after: Some(step),
            ..options(T0 + HOUR_US)
        };
        compact(&lake, &crash).await.expect("crashing run");
        let during = content(&lake).await;
        match step {
            // Nothing replaced yet: readers see the inputs.
            Step::Stage | Step::Journal => assert_eq!(during, before, "{step:?}"),
            // The documented window: the rows are missing, never doubled.
            Step::Delete => assert!(during.0.is_empty(), "{step:?}: {during:?}"),
        }
        // Another compactor meanwhile finds the partition locked.
        let other = Options {
            owner: "other".into(),
            ..options(T0 + HOUR_US)
        };
        assert!(compact(&lake, &other).await.expect("locked").is_empty());
        let reports = compact(&lake, &options(T0 + HOUR_US))
            .await
            .expect("next run");
        assert_eq!(content(&lake).await, before, "{step:?}");
        let r = &reports[0];
        match step {
            Step::Stage => assert_eq!((r.cleaned, r.recovered, r.inputs), (1, 0, 4), "{r:?}"),
            Step::Journal | Step::Delete => {
                assert_eq!((r.cleaned, r.recovered, r.inputs), (0, 1, 0), "{r:?}");
            }
        }
        let objects = all_objects(&lake).await;
        assert_eq!(files_in(&objects, "packets/"), 1, "{step:?}: {objects:#?}");
        assert_eq!(
            files_in(&objects, "_mirrorlake/compaction/"),
            0,
            "{objects:#?}"
        );
    }
}

#[tokio::test]
async fn a_replayed_kafka_range_publishes_no_file_already_out() {
    let dir = tempfile::tempdir().expect("tmp");
    let lake = Lake::open(dir.path().to_str().expect("utf8")).expect("lake");
    let range = |first: i64| {
        LakeWriter::new(
            lake.clone(),
            FileConfig::default(),
            RollPolicy::default(),
            Box::new(OffsetRangeNamer::new("mirror", 3, first)),
        )
    };
    let (a, b) = (packets(1, 100, T0), packets(2, 100, T0 + 1_000_000));
    for (first, rows) in [(100, &a), (200, &b)] {
        let mut w = range(first);
        w.write(rows, Instant::now()).await.expect("write");
        w.close_all().await.expect("close");
    }
    let before = content(&lake).await;
    compact(&lake, &options(T0 + HOUR_US))
        .await
        .expect("compact");
    assert_eq!(content(&lake).await, before);

    // The range from offset 100 is replayed (its offset was never committed):
    // same rows, same file name, which compaction replaced.
    let mut replay = range(100);
    replay.write(&a, Instant::now()).await.expect("write");
    assert_eq!(
        discard_published(&lake, &mut replay).await.expect("check"),
        1
    );
    assert!(replay.close_all().await.expect("close").is_empty());
    assert_eq!(content(&lake).await, before, "nothing published twice");

    // A range compaction never saw is published as usual.
    let mut fresh = range(300);
    fresh
        .write(&packets(3, 10, T0 + 2_000_000), Instant::now())
        .await
        .expect("write");
    assert_eq!(
        discard_published(&lake, &mut fresh).await.expect("check"),
        0
    );
    assert_eq!(fresh.close_all().await.expect("close").len(), 1);
    assert_eq!(
        ints(&lake, "SELECT count(*) FROM packets").await,
        vec![vec![210]]
    );

    // That range is replayed in turn (published, never committed), after
    // the topic's retention removed some of its records: the file already
    // out is kept whole, not replaced by the shorter replay.
    let mut late = range(300);
    late.write(&packets(3, 4, T0 + 2_000_000), Instant::now())
        .await
        .expect("write");
    assert_eq!(discard_published(&lake, &mut late).await.expect("check"), 1);
    assert!(late.close_all().await.expect("close").is_empty());
    assert_eq!(
        ints(&lake, "SELECT count(*) FROM packets").await,
        vec![vec![210]]
    );
}

/// The `mirror_source` bounds of each row group of the hour's packets file.
fn eni_bounds(dir: &std::path::Path, hour: &str) -> Vec<(String, String)> {
    let folder = dir.join(format!("packets/dt=2026-01-15/hour={hour}"));
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .expect("folder")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let file = std::fs::File::open(files.remove(0)).expect("open");
    let r = parquet::file::reader::SerializedFileReader::new(file).expect("parquet");
    use parquet::file::reader::FileReader;
    let md = r.metadata();
    let at = md
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.name() == "mirror_source")
        .expect("column");
    md.row_groups()
        .iter()
        .map(|rg| match rg.column(at).statistics() {
            Some(Statistics::ByteArray(s)) => (
                s.min_opt()
                    .expect("min")
                    .as_utf8()
                    .expect("utf8")
                    .to_owned(),
                s.max_opt()
                    .expect("max")
                    .as_utf8()
                    .expect("utf8")
                    .to_owned(),
            ),
            other => panic!("statistics {other:?}"),
        })
        .collect()
}

/// Compaction re-clusters an hour by mirrored ENI: every input holds all
/// four ENIs (and rows without one), and the output's row groups each hold
/// one ENI, in order, with every row once (ranges of one ENI: the smallest
/// budget). With the default budget the four small ENIs share one group.
#[tokio::test]
async fn compaction_clusters_an_hour_by_mirrored_eni() {
    for (budget, groups) in [(1, 4), (Options::new(0, 1, "x").cluster_bytes, 1)] {
        let dir = tempfile::tempdir().expect("tmp");
        let lake = Lake::open(dir.path().to_str().expect("utf8")).expect("lake");
        small_files(&lake, 1, 5, 300).await;
        // One more input whose rows have no mirrored ENI.
        let b = packets(99, 50, T0 + 10_000_000);
        let at = b.schema().index_of("mirror_source").expect("column");
        let mut columns = b.columns().to_vec();
        columns[at] = arrow::array::new_null_array(columns[at].data_type(), b.num_rows());
        let b = RecordBatch::try_new(b.schema(), columns).expect("nulls");
        let mut w = LakeWriter::new(
            lake.clone(),
            FileConfig::default(),
            RollPolicy::default(),
            Box::new(SequenceNamer::new("nulls", T0)),
        );
        w.write(&b, Instant::now()).await.expect("write");
        w.close_all().await.expect("close");
        let before = content(&lake).await;
        assert_eq!(before.0[0][1], 1550, "{before:?}");

        let mut opts = options(T0 + HOUR_US);
        opts.cluster_bytes = budget;
        let reports = compact(&lake, &opts).await.expect("compact");
        assert_eq!(
            (reports[0].inputs, reports[0].outputs, reports[0].rows),
            (6, 1, 1550)
        );
        assert_eq!(content(&lake).await, before, "no row lost or doubled");
        let nulls = ints(
            &lake,
            "SELECT count(*) FROM packets WHERE mirror_source IS NULL",
        )
        .await;
        assert_eq!(nulls, vec![vec![50]]);
        let bounds = eni_bounds(dir.path(), "00");
        assert_eq!(bounds.len(), groups, "{bounds:?}");
        for (i, (min, max)) in bounds.iter().enumerate() {
            if groups > 1 {
                assert_eq!(min, max, "one ENI per row group: {bounds:?}");
            }
            if let Some((next, _)) = bounds.get(i + 1) {
                assert!(max < next, "row groups in ENI order: {bounds:?}");
            }
        }
    }
}

/// Files at or above the small size are left alone unless `all_files`,
/// which rewrites (re-clusters) even a single live file once; its output
/// is not rewritten again.
#[tokio::test]
async fn all_files_rewrites_large_live_files_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let lake = Lake::open(dir.path().to_str().expect("utf8")).expect("lake");
    small_files(&lake, 1, 1, 600).await;
    let before = content(&lake).await;
    let mut opts = options(T0 + HOUR_US);
    opts.small_file_bytes = 1;
    opts.cluster_bytes = 1;
    assert!(compact(&lake, &opts).await.expect("compact").is_empty());
    opts.all_files = true;
    let reports = compact(&lake, &opts).await.expect("compact");
    assert_eq!(
        (reports.len(), reports[0].inputs, reports[0].outputs),
        (1, 1, 1),
        "{reports:?}"
    );
    assert_eq!(content(&lake).await, before, "no row lost or doubled");
    assert_eq!(
        eni_bounds(dir.path(), "00").len(),
        4,
        "one row group per ENI"
    );
    assert!(compact(&lake, &opts).await.expect("again").is_empty());
}

/// Lists every object under the lake.
async fn all_objects(lake: &Lake) -> Vec<String> {
    let mut v: Vec<String> = lake
        .store
        .list(None)
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .expect("list");
    v.sort();
    v
}

/// A lake written before schema v3 (files without `gwlb_endpoint`) is read
/// and compacted by this build: every row once, the new column null.
#[tokio::test]
async fn files_of_an_older_schema_are_queried_and_compacted() {
    let dir = tempfile::tempdir().expect("tmp");
    let lake = Lake::open(dir.path().to_str().expect("utf8")).expect("lake");
    small_files(&lake, 1, 3, 200).await;
    // Rewrite every packets file without the column v3 added.
    let mut rewritten = 0;
    for o in all_objects(&lake).await {
        if !o.starts_with("packets/") {
            continue;
        }
        let path = dir.path().join(&o);
        let bytes = bytes::Bytes::from(std::fs::read(&path).expect("read"));
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
            .expect("parquet")
            .build()
            .expect("reader");
        let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().expect("rows");
        let keep: Vec<usize> = (0..batches[0].num_columns())
            .filter(|&i| batches[0].schema().field(i).name() != "gwlb_endpoint")
            .collect();
        let old_schema = std::sync::Arc::new(batches[0].schema().project(&keep).expect("schema"));
        let f = std::fs::File::create(&path).expect("create");
        let mut w = parquet::arrow::ArrowWriter::try_new(f, old_schema, None).expect("writer");
        for b in &batches {
            w.write(&b.project(&keep).expect("project")).expect("write");
        }
        w.close().expect("close");
        rewritten += 1;
    }
    assert_eq!(rewritten, 3);
    let before = content(&lake).await;
    assert_eq!(before.0[0][1], 600, "{before:?}");
    let reports = compact(&lake, &options(T0 + HOUR_US))
        .await
        .expect("compact older files");
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(content(&lake).await, before, "no row lost or doubled");
    assert_eq!(
        ints(
            &lake,
            "SELECT count(*) FROM packets WHERE gwlb_endpoint IS NULL"
        )
        .await,
        vec![vec![600]]
    );
}
