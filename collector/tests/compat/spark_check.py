"""Runs mirrorlake's Athena DDL and named queries on Spark SQL with Hive
support (PySpark, an engine nobody here wrote, with its embedded Hive 2.3
metastore on Derby), against a local lake, and compares with mirrorlake's own
engine (`mirrorlake-aggregator query`). The Rust test is
collector/tests/spark.rs.

usage: spark_check.py --lake DIR --ddl FILE --aggregator BIN --queries DIR
                      [--expect TABLE=ROWS ...] [--query NAME.sql ...]

  --ddl        the text of `mirrorlake-aggregator ddl --format athena
               --location s3://BUCKET/PREFIX` (both tables; the command only
               accepts s3:// locations, Athena reads S3 only)
  --expect     rows the table must hold (e.g. packets=3011), checked on Spark
  --query      a named query of --queries to run (default: every *.sql)

What it does, in one SparkSession (master local[1], warehouse and Derby
metastore in a temporary folder, session time zone UTC):

1. Each statement of the DDL is run AS GENERATED. Only when Spark rejects it
   is a rewrite applied, the smallest that makes it runnable here, and the
   error and the exact rewrite are printed. The one needed: the LOCATION
   's3://BUCKET/PREFIX/<table>/' becomes 'file://<lake>/<table>/' (there is no
   S3 here, and Spark's Hadoop has no file system for the s3 scheme).
2. MSCK REPAIR TABLE for each table; the partitions found must be the
   dt=/hour= folders of the lake.
3. Each table's columns as Spark's catalog has them (DESCRIBE) must be the
   DDL's, in order, with the same types; partition columns likewise. Comments
   and TBLPROPERTIES that Spark stored differently are printed as NOTEs.
4. Row counts per table must equal --expect and, per dt/hour partition, what
   mirrorlake counts.
5. Each named query (Trino dialect, written for Athena), bound with its
   `-- Example:` parameters as aggregator/tests/named_queries.rs binds them, is
   run on mirrorlake unchanged and on Spark unchanged; only while Spark fails
   on it is the next Trino-to-Spark rewrite whose pattern is in its text made
   (one at a time, each printed with the error and the reason) and the query
   retried. The results must be the
   same rows (compared as multisets: ties of ORDER BY may come in either
   order; arrays of array_agg compared as sets) and must not be empty.

Prints a summary of which statements and queries passed and how; exits 1 on
any failure or mismatch.
"""
import argparse
import calendar
import datetime as dt
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_common import SUMMARY, add_lake_options, elapsed, fail, finish, log, parse_options, show  # noqa: E402

os.environ["TZ"] = "UTC"
time.tzset()


def err_line(e):
    """The line of an exception that says what went wrong: PySpark's
    AnalysisException and ParseException put it first, a Py4JJavaError after
    'An error occurred while calling ...'."""
    for line in str(e).strip().splitlines():
        line = line.strip().removeprefix(": ")
        if line and not line.startswith("An error occurred while calling"):
            return line[:400]
    return repr(e)[:400]


# --------------------------------------------------------------------------
# SQL text helpers (quote- and comment-aware)


def scan(sql):
    """Yields (kind, text) pieces of sql: 'str' ('...' with '' escapes),
    'qid' ("..."), 'bq' (`...`), 'comment' (-- to end of line), 'code'."""
    i, n, start = 0, len(sql), 0
    while i < n:
        ch = sql[i]
        if ch in "'\"`" or sql.startswith("--", i):
            if start < i:
                yield "code", sql[start:i]
            if ch == "-":
                j = sql.find("\n", i)
                j = n if j < 0 else j
                yield "comment", sql[i:j]
            else:
                j = i + 1
                while j < n:
                    if sql[j] == ch:
                        if j + 1 < n and sql[j + 1] == ch:
                            j += 2
                            continue
                        break
                    j += 1
                j = min(j + 1, n)
                yield {"'": "str", '"': "qid", "`": "bq"}[ch], sql[i:j]
            i = start = j
        else:
            i += 1
    if start < n:
        yield "code", sql[start:]


def split_statements(text):
    out, cur = [], []
    for kind, piece in scan(text):
        if kind == "code" and ";" in piece:
            parts = piece.split(";")
            for p in parts[:-1]:
                cur.append(p)
                out.append("".join(cur).strip())
                cur = []
            cur.append(parts[-1])
        else:
            cur.append(piece)
    tail = "".join(cur).strip()
    if tail:
        out.append(tail)
    return [s for s in out if s]


def example_params(sql):
    """The `-- Example:` values, split at top-level commas outside quotes and
    parentheses (as named_queries.rs does)."""
    line = next((l[len("-- Example:"):] for l in sql.splitlines() if l.startswith("-- Example:")), None)
    if line is None:
        raise ValueError("no `-- Example:` line")
    params, cur, quoted, depth = [], "", False, 0
    for ch in line:
        if ch == "'":
            quoted = not quoted
        elif ch == "(" and not quoted:
            depth += 1
        elif ch == ")" and not quoted:
            depth -= 1
        elif ch == "," and not quoted and depth == 0:
            params.append(cur.strip())
            cur = ""
            continue
        cur += ch
    params.append(cur.strip())
    return params


def bind(sql, params):
    """Each `?` outside strings and comments replaced by the next parameter."""
    out, k = [], 0
    for kind, piece in scan(sql):
        if kind == "code":
            while "?" in piece:
                a, piece = piece.split("?", 1)
                if k >= len(params):
                    raise ValueError("more ? than example values")
                out.append(a + params[k])
                k += 1
        out.append(piece)
    if k != len(params):
        raise ValueError(f"{k} placeholders, {len(params)} example values")
    return "".join(out)


def map_code(sql, fn):
    """sql with fn applied to the code pieces (not strings, comments)."""
    return "".join(fn(p) if kind == "code" else p for kind, p in scan(sql))


def code_only(sql):
    return "".join(p for kind, p in scan(sql) if kind == "code")


def call_args(text, open_paren):
    """(args, end) of the call whose '(' is at open_paren: args split at
    top-level commas, end just past the matching ')'."""
    depth, args, cur, i = 0, [], "", open_paren
    while i < len(text):
        ch = text[i]
        if ch == "(":
            depth += 1
            if depth == 1:
                i += 1
                continue
        elif ch == ")":
            depth -= 1
            if depth == 0:
                args.append(cur.strip())
                return args, i + 1
        elif ch == "," and depth == 1:
            args.append(cur.strip())
            cur = ""
            i += 1
            continue
        cur += ch
        i += 1
    raise ValueError("unbalanced parentheses")


def rewrite_bitwise_and(sql):
    def fn(code):
        while True:
            m = re.search(r"\bbitwise_and\s*\(", code, re.I)
            if not m:
                return code
            args, end = call_args(code, m.end() - 1)
            code = code[: m.start()] + f"({args[0]} & {args[1]})" + code[end:]

    return map_code(sql, fn)


def rewrite_qids(sql):
    return "".join("`" + p[1:-1].replace('""', '"') + "`" if kind == "qid" else p for kind, p in scan(sql))


# Trino (Athena) -> Spark rewrites: (name, applies, rewrite, why). Only made
# while Spark fails on the query, one at a time, and only where the pattern is
# in its text.
QUERY_REWRITES = [
    (
        'double-quoted identifier "x" -> `x`',
        lambda s: any(k == "qid" for k, _ in scan(s)),
        rewrite_qids,
        'Trino quotes identifiers with "..."; Spark reads "..." as a string literal '
        "(unless spark.sql.ansi.doubleQuotedIdentifiers) and quotes identifiers with backticks",
    ),
    (
        "bitwise_and(a, b) -> (a & b)",
        lambda s: re.search(r"\bbitwise_and\s*\(", code_only(s), re.I),
        rewrite_bitwise_and,
        "Trino's bitwise_and function; Spark has no such function, its bitwise AND is the & operator",
    ),
    (
        "bitwise_or_agg(x) -> bit_or(x)",
        lambda s: re.search(r"\bbitwise_or_agg\s*\(", code_only(s), re.I),
        lambda s: map_code(s, lambda c: re.sub(r"\bbitwise_or_agg(\s*\()", r"bit_or\1", c, flags=re.I)),
        "Trino's bitwise OR aggregate is bitwise_or_agg; Spark's is bit_or",
    ),
    (
        "CAST(... AS varchar) -> CAST(... AS string)",
        lambda s: re.search(r"\bAS\s+varchar\b(?!\s*\()", code_only(s), re.I),
        lambda s: map_code(s, lambda c: re.sub(r"\b(AS\s+)varchar\b(?!\s*\()", r"\1string", c, flags=re.I)),
        "Trino's unbounded varchar; Spark needs a length for VARCHAR, its unbounded text type is STRING",
    ),
]


# --------------------------------------------------------------------------
# The DDL


def parse_table(stmt):
    """(table, location, columns [(name, type, comment)], partition columns,
    tblproperties {k: v}) of one CREATE EXTERNAL TABLE statement."""
    m = re.match(r"CREATE EXTERNAL TABLE IF NOT EXISTS `?([\w.]+?)`?\s*\(", stmt)
    if not m:
        raise ValueError(f"not a CREATE EXTERNAL TABLE: {stmt[:80]!r}")
    table = m.group(1).split(".")[-1]
    col_re = re.compile(r"^\s*`([^`]+)`\s+(\S+)(?:\s+COMMENT\s+'((?:[^']|'')*)')?,?\s*$")
    cols, parts = [], []
    section = cols
    for line in stmt.splitlines()[1:]:
        if line.startswith("PARTITIONED BY"):
            section = parts
            continue
        c = col_re.match(line)
        if c:
            section.append((c.group(1), c.group(2).lower(), (c.group(3) or "").replace("''", "'")))
    loc = re.search(r"^LOCATION '([^']*)'", stmt, re.M)
    props = dict(
        (k.replace("''", "'"), v.replace("''", "'"))
        for k, v in re.findall(r"^\s*'((?:[^']|'')*)'='((?:[^']|'')*)',?\s*$", stmt, re.M)
    )
    if not cols or not parts or not loc:
        raise ValueError(f"could not read columns, partitions and LOCATION of {table}")
    return table, loc.group(1), cols, parts, props


def rewrite_location(stmt, table, location, lake):
    want = f"file://{lake}/{table}/"
    if not location.startswith("s3://") or location.rstrip("/").rsplit("/", 1)[-1] != table:
        raise ValueError(f"LOCATION {location!r} is not s3://.../{table}/")
    return stmt.replace(f"LOCATION '{location}'", f"LOCATION '{want}'", 1), want


# --------------------------------------------------------------------------
# mirrorlake's side


def ours(args, sql, fmt="json"):
    """mirrorlake's rows as dicts (JSON rows leave out null values), or with
    fmt="table" its column names (from the table's header: CSV cannot show
    arrays; an empty result has no header)."""
    out = subprocess.run(
        # `--`: the named queries begin with a `-- ` comment line, not an option
        [args.aggregator, "query", "--lake", args.lake, "--format", fmt, "--", sql],
        capture_output=True,
        text=True,
        env={**os.environ, "MIRRORLAKE_LOG": "warn"},
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip())
    if fmt == "table":
        lines = out.stdout.splitlines()
        return [c.strip() for c in lines[1].strip().strip("|").split("|")] if len(lines) > 2 else []
    return [json.loads(l) for l in out.stdout.splitlines() if l.strip()]


def ours_or_fail(args, name, sql):
    """mirrorlake's rows and column names (ours) of the named query `name`
    (sql: bound to its parameters), or None, recorded as a failure, when
    mirrorlake's engine failed on it."""
    try:
        return ours(args, sql), ours(args, sql, "table")
    except RuntimeError as e:
        fail(f"{name}: mirrorlake's engine failed: {e}")
        SUMMARY.append(("query", name, "FAIL", "mirrorlake failed"))
        return None


# --------------------------------------------------------------------------
# Comparing results


def micros(d):
    if d.tzinfo is not None:
        d = d.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return calendar.timegm(d.timetuple()) * 1_000_000 + d.microsecond


def norm_spark(v, ty):
    if v is None:
        return None
    if ty == "timestamp" or ty == "timestamp_ntz":
        return ("ts", micros(v))
    if ty == "binary":
        return bytes(v).hex()
    if ty.startswith("array"):
        return tuple(sorted((norm_spark(x, ty[6:-1]) for x in v), key=repr))
    if ty.startswith("decimal"):
        return int(v) if v == int(v) else float(v)
    return v


def norm_ours(v, ty):
    if v is None:
        return None
    if ty == "timestamp" or ty == "timestamp_ntz":
        return ("ts", micros(dt.datetime.fromisoformat(v.replace("Z", "+00:00"))))
    if ty.startswith("array"):
        return tuple(sorted((norm_ours(x, ty[6:-1]) for x in v), key=repr))
    return v


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_lake_options(ap)
    args, expect = parse_options(ap)

    statements = split_statements(Path(args.ddl).read_text())
    tables = [parse_table(s) for s in statements]
    log(f"DDL: {len(statements)} statements ({', '.join(t[0] for t in tables)})")

    tmp = tempfile.mkdtemp(prefix="mirrorlake-spark-")
    try:
        return check(args, expect, statements, tables, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check(args, expect, statements, tables, tmp):
    log4j = Path(tmp, "log4j2.properties")
    log4j.write_text(
        "rootLogger.level = error\nrootLogger.appenderRef.stderr.ref = console\n"
        "appender.console.type = Console\nappender.console.name = console\n"
        "appender.console.target = SYSTEM_ERR\nappender.console.layout.type = PatternLayout\n"
        "appender.console.layout.pattern = spark: %p %c{1}: %m%n\n"
        # The metastore logs, at ERROR with a stack trace, the s3:// LOCATION it
        # cannot reach when the DDL is first tried as generated; the error comes
        # back to us as an exception and is printed below in one line.
        "logger.hive.name = hive\nlogger.hive.level = fatal\n"
        "logger.hms.name = org.apache.hadoop.hive.metastore\nlogger.hms.level = fatal\n"
    )
    java_opts = (
        f"-Duser.timezone=UTC -Dlog4j2.configurationFile=file:{log4j} "
        f"-Dderby.system.home={tmp} -Dderby.stream.error.file={tmp}/derby.log "
        # Start-up speed only: a short-lived JVM on a small machine spends
        # much of its time in the C2 compiler (about 75 s -> 45 s here).
        "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
    )
    from pyspark.sql import SparkSession
    import pyspark

    # PySpark also logs each rejected statement (JSON, on stderr) before
    # raising it; the rejections are printed below in one line each.
    logging.disable(logging.ERROR)

    spark = (
        SparkSession.builder.master("local[1]")
        .appName("mirrorlake-spark-check")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # Keep ${dt} in TBLPROPERTIES 'storage.location.template' as written:
        # Spark would otherwise substitute an empty string for it.
        .config("spark.sql.variable.substitute", "false")
        .config("spark.sql.warehouse.dir", f"{tmp}/warehouse")
        .config("spark.hadoop.javax.jdo.option.ConnectionURL", f"jdbc:derby:;databaseName={tmp}/metastore_db;create=true")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.driver.extraJavaOptions", java_opts)
        .config("spark.driver.memory", "1g")
        .config("spark.local.dir", f"{tmp}/local")
        # Speed only, on tiny data: no adaptive re-planning, no whole-stage
        # code generation (each compiled plan costs more than it saves here).
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.sql.codegen.wholeStage", "false")
        .enableHiveSupport()
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    log(
        "session: master local[1]; Hive metastore on Derby and warehouse in a temporary folder; "
        "spark.sql.session.timeZone=UTC (timestamps are UTC instants, literals read as UTC as in Athena); "
        "spark.sql.variable.substitute=false (else Spark turns the ${dt} of TBLPROPERTIES "
        "'storage.location.template' into an empty string)"
    )
    log(
        f"[{elapsed()}] Spark {spark.version} (PySpark {pyspark.__version__}), catalog "
        f"{spark.conf.get('spark.sql.catalogImplementation')}, Java {spark.sparkContext._jvm.System.getProperty('java.version')}"
    )

    # 1. the DDL
    log("\n== DDL (as generated by mirrorlake-aggregator ddl --format athena)")
    created = []
    for stmt, (table, location, cols, parts, props) in zip(statements, tables):
        log(f"-- CREATE EXTERNAL TABLE {table}: as generated")
        try:
            spark.sql(stmt)
            how = "as generated"
            log("  ok as generated")
            # A table made with the s3:// LOCATION could not be read here.
            if location.startswith("s3://"):
                _, want = rewrite_location(stmt, table, location, args.lake)
                spark.sql(f"ALTER TABLE `{table}` SET LOCATION '{want}'")
                how += f"; then ALTER TABLE SET LOCATION '{want}' (no S3 here)"
                log(f"  then: ALTER TABLE {table} SET LOCATION '{want}' (the data is local; no S3 here)")
        except Exception as e:  # noqa: BLE001 - report what Spark said, then rewrite
            first = err_line(e)
            log(f"  Spark rejected it as generated: {first}")
            try:
                fixed, want = rewrite_location(stmt, table, location, args.lake)
            except ValueError as why:
                fail(f"DDL {table}: rejected and no rewrite applies ({why})")
                SUMMARY.append(("DDL", f"CREATE EXTERNAL TABLE {table}", "FAIL", first))
                continue
            log(f"  rewrite: LOCATION '{location}' -> LOCATION '{want}'")
            log("    why: the lake is on local disk (no S3 here) and `ddl` only prints s3:// locations;")
            log("         Spark's Hadoop has no FileSystem for the s3 scheme. Nothing else changed.")
            try:
                spark.sql(fixed)
                how = "LOCATION s3:// -> file:// only"
                log("  ok after the rewrite")
            except Exception as e2:  # noqa: BLE001
                first2 = err_line(e2)
                fail(f"DDL {table}: rejected even with the file:// LOCATION: {first2}")
                SUMMARY.append(("DDL", f"CREATE EXTERNAL TABLE {table}", "FAIL", first2))
                continue
        SUMMARY.append(("DDL", f"CREATE EXTERNAL TABLE {table}", "PASS", how))
        created.append((table, cols, parts, props))
    log(f"[{elapsed()}] DDL done")

    # 2.-4. partitions, schema, counts
    for table, cols, parts, props in created:
        log(f"\n== table {table}")
        try:
            spark.sql(f"MSCK REPAIR TABLE `{table}`")
            found = sorted(r[0] for r in spark.sql(f"SHOW PARTITIONS `{table}`").collect())
            on_disk = sorted(
                f"{d.parent.name}/{d.name}" for d in Path(args.lake, table).glob("dt=*/hour=*") if d.is_dir()
            )
            if found == on_disk and found:
                log(f"  MSCK REPAIR TABLE: {len(found)} partitions, the lake's folders")
                SUMMARY.append(("stmt", f"MSCK REPAIR TABLE {table}", "PASS", f"{len(found)} partitions"))
            else:
                fail(f"{table}: partitions after MSCK REPAIR {found} != folders {on_disk}")
                SUMMARY.append(("stmt", f"MSCK REPAIR TABLE {table}", "FAIL", "partitions differ"))
        except Exception as e:  # noqa: BLE001
            fail(f"MSCK REPAIR TABLE {table}: {err_line(e)}")
            SUMMARY.append(("stmt", f"MSCK REPAIR TABLE {table}", "FAIL", "error"))

        # DESCRIBE: columns, then '# Partition Information', '# col_name', partition columns
        rows = spark.sql(f"DESCRIBE `{table}`").collect()
        seen, part_seen, in_parts = [], [], False
        for r in rows:
            name = (r.col_name or "").strip()
            if name == "# Partition Information":
                in_parts = True
                continue
            if not name or name.startswith("#"):
                continue
            (part_seen if in_parts else seen).append((name, r.data_type, r.comment or ""))
        # DESCRIBE lists the partition columns among the columns too, then again under the header.
        data_seen = [c for c in seen if c[0] not in {p[0] for p in part_seen}]
        want_cols = [(n, t) for n, t, _ in cols]
        want_parts = [(n, t) for n, t, _ in parts]
        got_cols = [(n, t.lower()) for n, t, _ in data_seen]
        got_parts = [(n, t.lower()) for n, t, _ in part_seen]
        if got_cols == want_cols and got_parts == want_parts:
            log(f"  columns: {len(got_cols)} + partitions {[p[0] for p in got_parts]}: names and types as in the DDL")
            SUMMARY.append(("schema", f"{table} columns and types", "PASS", f"{len(got_cols)}+{len(got_parts)}"))
        else:
            diff = [(w, g) for w, g in zip(want_cols + want_parts, got_cols + got_parts) if w != g]
            fail(f"{table}: columns differ from the DDL: {diff or (len(want_cols), len(got_cols))}")
            SUMMARY.append(("schema", f"{table} columns and types", "FAIL", "differ"))
        notes = 0
        want_comments = {n: c for n, _, c in cols + parts}
        for n, _, c in data_seen + part_seen:
            if want_comments.get(n, c) != c:
                notes += 1
                log(f"  NOTE: comment of {n} as Spark stored it: {c!r}")
                log(f"        the DDL meant:                  {want_comments[n]!r}")
        stored = dict((r.key, r.value) for r in spark.sql(f"SHOW TBLPROPERTIES `{table}`").collect())
        for k, v in props.items():
            if stored.get(k) != v:
                notes += 1
                log(f"  NOTE: TBLPROPERTIES {k!r} stored as {stored.get(k)!r}, DDL said {v!r}")
        if not notes:
            log(f"  column comments ('' escapes included) and the {len(props)} TBLPROPERTIES stored as written")

        n = spark.sql(f"SELECT count(*) FROM `{table}`").collect()[0][0]
        if table in expect:
            if n == expect[table]:
                log(f"  rows: {n}, as expected")
                SUMMARY.append(("count", f"count(*) {table}", "PASS", str(n)))
            else:
                fail(f"{table}: Spark counts {n} rows, expected {expect[table]}")
                SUMMARY.append(("count", f"count(*) {table}", "FAIL", f"{n} != {expect[table]}"))
        else:
            log(f"  rows: {n} (no --expect for {table})")
        log(f"[{elapsed()}] counted")
        # Every column read with the DDL's type: non-null counts, sums of the
        # integers, range of the timestamps, against mirrorlake's.
        agg_s, agg_m, agg_t = [], [], []
        for c, t, _ in cols + parts:
            fns = ["count"] + (["sum"] if t in ("int", "bigint") else []) + (["min", "max"] if t == "timestamp" else [])
            for f in fns:
                agg_s.append(f"{f}(`{c}`) AS a{len(agg_t)}")
                agg_m.append(f'{f}("{c}") AS a{len(agg_t)}')
                agg_t.append((f"{f}({c})", "timestamp" if f in ("min", "max") else "bigint"))
        bad = []
        try:
            s_row = spark.sql(f"SELECT {', '.join(agg_s)} FROM `{table}`").collect()[0]
            m_row = ours(args, f"SELECT {', '.join(agg_m)} FROM {table}")[0]
            for i, (what, t) in enumerate(agg_t):
                a, b = norm_spark(s_row[i], t), norm_ours(m_row.get(f"a{i}"), t)  # JSON rows omit nulls
                if a != b:
                    bad.append(f"{what}: Spark {a!r}, mirrorlake {b!r}")
        except Exception as e:  # noqa: BLE001
            bad.append(f"reading failed: {err_line(e)}")
        if bad:
            fail(f"{table}: columns read differently: {bad[:5]}")
            SUMMARY.append(("read", f"{table} every column", "FAIL", f"{len(bad)} differ"))
        else:
            log(f"  every column read with its DDL type: {len(agg_t)} aggregates (count, sum, min/max) as mirrorlake's")
            SUMMARY.append(("read", f"{table} every column", "PASS", f"{len(agg_t)} aggregates"))
        per = "SELECT dt, hour, count(*) AS n FROM {} GROUP BY dt, hour ORDER BY dt, hour"
        theirs = [[r.dt, r.hour, r.n] for r in spark.sql(per.format(f"`{table}`")).collect()]
        mine = [[r["dt"], r["hour"], r["n"]] for r in ours(args, per.format(table))]
        if theirs == mine:
            log(f"  rows per dt/hour: the same as mirrorlake's in all {len(mine)} partitions")
            SUMMARY.append(("count", f"{table} rows per dt/hour", "PASS", f"{len(mine)} partitions"))
        else:
            fail(f"{table}: rows per partition, Spark {theirs} vs mirrorlake {mine}")
            SUMMARY.append(("count", f"{table} rows per dt/hour", "FAIL", "differ"))
    log(f"[{elapsed()}] tables checked")

    # 5. named queries
    names = args.query or sorted(p.name for p in Path(args.queries).glob("*.sql"))
    log(f"\n== named queries ({len(names)})")
    for name in names:
        sql = Path(args.queries, name).read_text()
        bound = bind(sql, example_params(sql))
        log(f"-- {name}")
        if (got_ours := ours_or_fail(args, name, bound)) is None:
            continue
        mine, mine_cols = got_ours
        # Unchanged first; while Spark fails, the next rewrite whose pattern is
        # in the text, one at a time, each printed with the error it answers.
        text, made, pending, df = bound, [], list(QUERY_REWRITES), None
        while df is None:
            try:
                df = spark.sql(text)
                got = df.collect()
            except Exception as e:  # noqa: BLE001
                df = None
                first = err_line(e)
                log(f"  Spark failed on it {'unchanged' if not made else 'after ' + '; '.join(made)}: {first}")
                step = next((r for r in pending if r[1](text)), None)
                if step is None:
                    break
                pending.remove(step)
                label, _, rewrite, why = step
                text = rewrite(text)
                made.append(label)
                log(f"  rewrite: {label}")
                log(f"    why: {why}")
        if df is None:
            if made:
                log("  the text Spark was given last:\n" + "\n".join("    " + l for l in text.splitlines()))
            fail(f"{name}: Spark failed on it{' even after ' + '; '.join(made) if made else ''} and no further rewrite applies: {first}")
            SUMMARY.append(("query", name, "FAIL", first))
            continue
        how = "rewritten: " + "; ".join(made) if made else "unchanged"
        fields = [(f.name, f.dataType.simpleString()) for f in df.schema.fields]
        cols = [f[0] for f in fields]
        if not mine:
            fail(f"{name}: no rows on mirrorlake (the fixture lake should give some): nothing compared")
            SUMMARY.append(("query", name, "FAIL", "empty"))
            continue
        if cols != mine_cols:
            fail(f"{name}: columns, Spark {cols} vs mirrorlake {mine_cols}")
            SUMMARY.append(("query", name, "FAIL", "columns differ"))
            continue
        s_rows = [tuple(norm_spark(r[i], t) for i, (_, t) in enumerate(fields)) for r in got]
        m_rows = [tuple(norm_ours(r.get(c), t) for c, t in fields) for r in mine]
        same_set = sorted(s_rows, key=repr) == sorted(m_rows, key=repr)
        if same_set:
            order = "same order" if s_rows == m_rows else "same rows, ties in another order"
            log(f"  [{elapsed()}] {len(s_rows)} rows, the same as mirrorlake's ({order}); {how}")
            SUMMARY.append(("query", name, "PASS", f"{len(s_rows)} rows; {how}"))
        else:
            fail(f"{name}: Spark's {len(s_rows)} rows differ from mirrorlake's {len(m_rows)}")
            for r in sorted(set(s_rows) - set(m_rows), key=repr)[:5]:
                log(f"    only Spark:      {show(r)}")
            for r in sorted(set(m_rows) - set(s_rows), key=repr)[:5]:
                log(f"    only mirrorlake: {show(r)}")
            SUMMARY.append(("query", name, "FAIL", f"rows differ; {how}"))
    log(f"[{elapsed()}] queries done")
    spark.stop()
    return finish(f"Spark SQL {spark.version} with Hive support", "spark")


if __name__ == "__main__":
    sys.exit(main())
