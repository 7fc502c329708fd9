//! Shared helpers of the integration tests.
#![allow(dead_code)]

use mirrorlake_wire::emit_outer_frame;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The collector binary built for these tests.
pub fn collector_bin() -> &'static str {
    env!("CARGO_BIN_EXE_mirrorlake-collector")
}

/// The aggregator binary (built by the workspace build into the same folder).
pub fn aggregator_bin() -> PathBuf {
    Path::new(collector_bin()).with_file_name("mirrorlake-aggregator")
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    mirrorlake_schema::manifest_dir!().join("..")
}

/// `../shared/testdata` beside the clone, when present.
pub fn shared_testdata() -> Option<PathBuf> {
    let p = repo_root().join("../shared/testdata");
    p.is_dir().then_some(p)
}

/// The captures of tcpdump's regression corpus
/// (`../shared/testdata/tcpdump-tests/*.pcap{,ng}`), sorted; `None` when the
/// corpus is not beside the clone.
pub fn tcpdump_corpus() -> Option<Vec<PathBuf>> {
    let dir = shared_testdata()?.join("tcpdump-tests");
    if !dir.is_dir() {
        return None;
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read corpus dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    files.sort();
    Some(files)
}

/// The `export KEY=VALUE` lines a local-stack script prints with `env`
/// (`deploy/local/<script>`), as pairs.
pub fn stack_env(script: &str) -> Vec<(String, String)> {
    let out = Command::new("bash")
        .arg(repo_root().join("deploy/local").join(script))
        .arg("env")
        .output()
        .unwrap_or_else(|e| panic!("run {script} env: {e}"));
    assert!(out.status.success(), "{script} env failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The file names of the named queries in `dir` (`*.sql`), sorted; never empty.
pub fn named_query_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("queries dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sql"))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no named queries in {}", dir.display());
    names
}

/// Whether a program is on PATH.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `mirrorlake-aggregator query --format <format>` and returns its
/// output.
fn query_as(format: &str, lake: &Path, sql: &str) -> String {
    let out = Command::new(aggregator_bin())
        .args(["query", "--format", format, "--lake"])
        .arg(lake)
        .arg(sql)
        .output()
        .expect("run aggregator query");
    assert!(
        out.status.success(),
        "query failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

/// Runs `mirrorlake-aggregator query --format csv` and returns the CSV text.
pub fn query_csv(lake: &Path, sql: &str) -> String {
    query_as("csv", lake, sql)
}

/// Runs `mirrorlake-aggregator query --format json`: one object per row.
pub fn query_json(lake: &Path, sql: &str) -> Vec<serde_json::Value> {
    query_as("json", lake, sql)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json row"))
        .collect()
}

/// The single number a `SELECT count(*) ...` over `lake` returns.
pub fn query_count(lake: &Path, sql: &str) -> i64 {
    query_csv(lake, sql)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("a count from {sql}"))
}

/// The python of a cached venv `~/.cache/mirrorlake/<name>` (or under
/// `$XDG_CACHE_HOME`) holding `packages`, made when `check` (python code
/// that exits 0 when the venv is ready) fails.
pub fn python_venv(name: &str, packages: &[&str], check: &str) -> PathBuf {
    use std::process::Stdio;
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache"));
    let venv = cache.join("mirrorlake").join(name);
    let python = venv.join("bin/python");
    let ready = || {
        Command::new(&python)
            .args(["-c", check])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ready() {
        std::fs::create_dir_all(&cache).expect("create cache dir");
        let st = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status()
            .expect("python3 -m venv");
        assert!(st.success(), "python3 -m venv {} failed", venv.display());
        let st = Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "--disable-pip-version-check"])
            .args(packages)
            .status()
            .expect("pip install");
        assert!(st.success(), "pip install {packages:?} failed");
        assert!(ready(), "{packages:?} not importable in {}", venv.display());
    }
    python
}

/// Says that a test (or part of one) cannot run here, and why. Under
/// `MIRRORLAKE_REQUIRE_ALL=1` (`.ci/run` sets it), or the narrower `require`
/// switch (`MIRRORLAKE_REQUIRE_TRINO`...), that is a failure; otherwise it
/// prints `SKIP: what: why` and appends that line to `$MIRRORLAKE_SKIP_LOG`,
/// which `deploy/test.sh` lists at the end of the run.
pub fn skip(what: &str, why: &str, require: Option<&str>) {
    if required(require.unwrap_or("MIRRORLAKE_REQUIRE_ALL")) {
        let switch = require.map_or(String::new(), |v| format!(" or {v}"));
        panic!("{what} cannot run here ({why}), and MIRRORLAKE_REQUIRE_ALL{switch} requires it");
    }
    let line = format!("SKIP: {what}: {why}");
    eprintln!("{line}");
    if let Some(log) = std::env::var_os("MIRRORLAKE_SKIP_LOG") {
        use std::io::Write as _;
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .and_then(|mut f| writeln!(f, "{line}"));
        if let Err(e) = appended {
            eprintln!("cannot append to MIRRORLAKE_SKIP_LOG: {e}");
        }
    }
}

/// Whether `var` (`MIRRORLAKE_REQUIRE_TRINO`...) or `MIRRORLAKE_REQUIRE_ALL`
/// is `1`: what it names must run, never skip.
pub fn required(var: &str) -> bool {
    let on = |v: &str| std::env::var(v).is_ok_and(|x| x == "1");
    on("MIRRORLAKE_REQUIRE_ALL") || on(var)
}

/// Real captures of real programs made once per test run by
/// `captures/make.sh` (see tshark.rs): `plain.pcap`, `tunnelled.pcap`,
/// `truncated.pcap`, `tunnelled.pcapng` in the returned folder, and how long
/// making them took. `Err` says why they cannot be made here (the caller
/// passes it to [`skip`]).
pub fn real_captures() -> Result<(&'static Path, std::time::Duration), String> {
    static MADE: std::sync::OnceLock<Result<(tempfile::TempDir, std::time::Duration), String>> =
        std::sync::OnceLock::new();
    let made = MADE.get_or_init(|| {
        let uid = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
        if uid.as_deref().ok() != Some("0") {
            return Err("not root (network namespaces and tcpdump need it)".into());
        }
        for p in ["tshark", "tcpdump", "editcap"] {
            if !have(p) {
                return Err(format!("{p} not installed"));
            }
        }
        let started = std::time::Instant::now();
        let dir = tempfile::tempdir().expect("tempdir");
        let script = repo_root().join("collector/tests/captures/make.sh");
        let out = Command::new("timeout")
            .args(["180", "bash"])
            .arg(&script)
            .arg(dir.path())
            .output()
            .expect("run make.sh");
        assert!(
            out.status.success(),
            "make.sh failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok((dir, started.elapsed()))
    });
    match made {
        Ok((dir, took)) => Ok((dir.path(), *took)),
        Err(e) => Err(e.clone()),
    }
}

/// tshark reads `file` to the end: exit 0 and nothing on stderr but its
/// root warning. Returns the number of frames.
pub fn tshark_reads_cleanly(file: &Path) -> usize {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(["-T", "fields", "-e", "frame.number"])
        .output()
        .expect("run tshark");
    let err: String = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.contains("Running as user \"root\"") && !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        out.status.success() && err.is_empty(),
        "tshark on {}: {err}",
        file.display()
    );
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// (timestamp µs, original length, bytes) of one captured packet.
pub type Pkt = (i64, u32, Vec<u8>);

/// The packets of a capture file in file order, up to any damage; none when
/// the file does not exist or has no complete header yet (a live output).
pub fn capture_packets(path: &Path) -> Vec<Pkt> {
    let Ok(f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    match mirrorlake_pcap::CaptureReader::new(std::io::BufReader::new(f)) {
        Ok(r) => r
            .map_while(Result::ok)
            .map(|r| (r.ts_ns.div_euclid(1000), r.orig_len, r.data))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// `v` sorted: packets compared as multisets.
pub fn sorted(mut v: Vec<Pkt>) -> Vec<Pkt> {
    v.sort();
    v
}

/// `mirrorlake-collector import` of `files` into `lake`, stamping `id`.
pub fn import(lake: &Path, id: &str, files: &[PathBuf]) {
    let out = Command::new(collector_bin())
        .args(["import", "--collector-id", id, "--lake"])
        .arg(lake)
        .args(files)
        .output()
        .expect("run import");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("wrote"),
        "import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `flows` table accounts for every IP packet of the `packets` table
/// exactly once, per session and source (no flows file missing or written
/// twice). Polls up to 15 s: a flows file is completed just after its
/// packets file.
pub fn assert_flows_account_for_packets(lake: &Path) {
    let per_source = |sql: &str| query_csv(lake, sql);
    let packets = "SELECT mirror_source, vni, count(*) AS packets, sum(wire_len) AS bytes FROM packets \
         WHERE src_ip IS NOT NULL AND dst_ip IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2";
    let flows = "SELECT mirror_source, vni, sum(packets) AS packets, sum(bytes) AS bytes FROM flows \
         GROUP BY 1, 2 ORDER BY 1, 2";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (p, f) = (per_source(packets), per_source(flows));
        if p == f {
            assert!(p.lines().count() > 1, "no IP packets in the lake");
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "flows disagree with packets:\n{p}\nvs\n{f}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

// ---------------------------------------------------------------- the SQL engines' lake

/// Writes the named queries' fixture (`aggregator/tests/forensic.rs`) as a
/// capture of its mirror traffic. Returns the number of packets.
pub fn write_forensic_pcap(path: &Path) -> usize {
    let packets = crate::forensic::packets();
    let mut w = mirrorlake_pcap::PcapWriter::new(
        std::io::BufWriter::new(std::fs::File::create(path).expect("create")),
        1,
        65535,
    )
    .expect("header");
    for (at, inner) in &packets {
        let mut outer = Vec::new();
        emit_outer_frame(
            crate::forensic::eni(),
            [127, 0, 0, 1].into(),
            50000,
            crate::forensic::VNI,
            inner,
            &mut outer,
        )
        .expect("emit");
        w.write(*at, outer.len() as u32, &outer).expect("record");
    }
    w.into_inner().expect("flush");
    packets.len()
}

/// The lake the SQL-engine compatibility tests read (spark.rs, trino.rs):
/// 3,000 packets of mirrored traffic (`s3::write_pcap`: two hours of
/// 2025-11-24) and the forensic fixture of `aggregator/tests/named_queries.rs`
/// (2024-05-01, the day of the named queries' example parameters, so every
/// one returns rows), imported into `dir/lake`; with the Athena DDL of both
/// tables (`ddl --format athena`, S3 locations only: each engine's checker
/// points them at the local lake) in `dir/tables.sql`.
pub struct CompatLake {
    pub lake: PathBuf,
    pub ddl: PathBuf,
    /// Rows of `packets` and of `flows`.
    pub packets: i64,
    pub flows: i64,
}

pub fn compat_lake(dir: &Path) -> CompatLake {
    let bulk = dir.join("mirror.pcap");
    crate::s3::write_pcap(&bulk, 3000, 20);
    let forensic = dir.join("forensic.pcap");
    let fixture = write_forensic_pcap(&forensic);
    let lake = dir.join("lake");
    import(&lake, "compat", &[bulk, forensic]);
    let packets = query_count(&lake, "SELECT count(*) AS n FROM packets");
    assert_eq!(packets, 3000 + fixture as i64, "every packet imported");
    let flows = query_count(&lake, "SELECT count(*) AS n FROM flows");
    assert!(flows > 0, "the import wrote flows");
    let out = Command::new(aggregator_bin())
        .args([
            "ddl",
            "--format",
            "athena",
            "--location",
            "s3://mirrorlake-compat-check/lake",
        ])
        .output()
        .expect("run aggregator ddl");
    assert!(
        out.status.success(),
        "ddl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ddl = dir.join("tables.sql");
    std::fs::write(&ddl, &out.stdout).expect("write ddl");
    CompatLake {
        lake,
        ddl,
        packets,
        flows,
    }
}

impl CompatLake {
    /// Runs `collector/tests/compat/<script>` with `python`, the engine's own
    /// `args` first, over this lake, its DDL and the named queries (600 s at
    /// most).
    pub fn check(
        &self,
        python: &std::ffi::OsStr,
        script: &str,
        args: &[&std::ffi::OsStr],
    ) -> std::process::Output {
        Command::new("timeout")
            .arg("600")
            .arg(python)
            .arg(repo_root().join("collector/tests/compat").join(script))
            .args(args)
            .arg("--lake")
            .arg(&self.lake)
            .arg("--ddl")
            .arg(&self.ddl)
            .arg("--aggregator")
            .arg(aggregator_bin())
            .arg("--queries")
            .arg(named_queries_dir())
            .arg(format!("--expect=packets={}", self.packets))
            .arg(format!("--expect=flows={}", self.flows))
            .output()
            .unwrap_or_else(|e| panic!("run {script}: {e}"))
    }
}

/// `terraform/modules/lake/queries`: the named queries.
pub fn named_queries_dir() -> PathBuf {
    repo_root().join("terraform/modules/lake/queries")
}

/// Asserts that a compat checker (`CompatLake::check`) passed and printed,
/// for both tables, each of `per_table` (`{table}` stands for the table),
/// and `PASS  query  <name>: <query_rest>` for every named query; returns
/// each query's line.
pub fn assert_compat_passed(
    engine: &str,
    out: &std::process::Output,
    per_table: &[&str],
    query_rest: &str,
) -> Vec<String> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{engine} disagrees with mirrorlake or rejects its SQL ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // The script passed; it must also have done everything it says.
    for table in ["packets", "flows"] {
        for line in per_table {
            let want = format!("PASS  {}", line.replace("{table}", table));
            assert!(stdout.contains(&want), "no `{want}` in:\n{stdout}");
        }
    }
    named_query_files(&named_queries_dir())
        .iter()
        .map(|name| {
            let want = format!("PASS  query  {name}:{query_rest}");
            stdout
                .lines()
                .find(|l| l.contains(&want))
                .unwrap_or_else(|| panic!("no `{want}` in:\n{stdout}"))
                .to_owned()
        })
        .collect()
}

/// `tshark -r <file> -n <options> -T fields -e <field>...`: one line per
/// frame, its fields separated by `,`, a field's repeated values by `;`.
pub fn tshark_fields(file: &Path, options: &[&str], fields: &[&str]) -> Vec<String> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(file).arg("-n").args(options).args([
        "-T",
        "fields",
        "-E",
        "separator=,",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=;",
        "-E",
        "header=n",
    ]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark");
    assert!(
        out.status.success(),
        "tshark -r {} failed: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("tshark prints utf8")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Packets the kernel dropped before any socket saw them, all CPUs
/// (`/proc/net/softnet_stat`, second column: the per-CPU backlog was full;
/// on loopback a sender that outruns the receiving softirq loses them here,
/// where no socket's SO_RXQ_OVFL counts them).
pub(crate) fn softnet_dropped() -> u64 {
    std::fs::read_to_string("/proc/net/softnet_stat")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| u64::from_str_radix(l.split_whitespace().nth(1)?, 16).ok())
        .sum()
}
