"""A local mirrorlake lake on Trino (the engine Athena v3 forks), over
Trino's REST API, with the Python standard library only.

Used by trino_check.py (the compatibility test) and meant for benchmarks:
register a lake's tables in Trino's Hive catalog from the DDL mirrorlake
generates, run a query, and get its rows and the bytes Trino read
(`queryStats` of GET /v1/query/{id}: physicalInputDataSize in 476).

As a program:

  trino_lake.py --server http://127.0.0.1:18080 --lake DIR --aggregator BIN
                [--ddl FILE] [--schema NAME] [--no-register]
                [--no-column-index] [--session K=V ...] SQL

prints one JSON object: query_id, columns [{name, type}], rows (Trino's JSON
values), physical_input_bytes (queryStats.physicalInputDataSize of GET
/v1/query/{id}, in bytes), statement_physical_input_bytes (the same figure
from the statement protocol's last page), elapsed_ms. `--no-column-index` sets the
session property hive.parquet_use_column_index=false (row-group statistics,
dictionaries and bloom filters only: what a layout may count on in Athena,
whose use of page indexes is not documented).

The server is `deploy/local/trino.sh start` (Trino 476, catalog `hive`: file
metastore, native local file system, hive.ignore-absent-partitions=true).

How the DDL is translated (mechanically, nothing else changes):
`mirrorlake-aggregator ddl --format athena` prints Hive DDL (CREATE EXTERNAL
TABLE ... PARTITIONED BY ... STORED AS PARQUET LOCATION ... TBLPROPERTIES),
which Trino does not take. Each table becomes

  CREATE TABLE hive.<schema>.<table> (<columns>, <partition columns>)
  WITH (format = 'PARQUET', external_location = 'local://<lake>/<table>',
        partitioned_by = ARRAY['dt', 'hour'])

with the same column names, in the same order (partition columns last, as
Trino requires and as the Hive DDL lists them), the same comments, and each
Hive type mapped by HIVE_TO_TRINO below; a type not in that table is an
error, never a guess. The location is the lake's folder of the table on local
disk (the DDL's s3://.../<table>/ must end in the table's name); `local://`
because a file:// location creates the table but lists no files in 476.
TBLPROPERTIES are not carried over: parquet.compression is the writer's
business (the files say how they are compressed), and partition projection is
replaced by `CALL system.sync_partition_metadata(schema, table, 'FULL')`,
which registers the dt=/hour= folders that exist (Athena's projection would
list every day and hour; hive.ignore-absent-partitions=true makes the absent
ones read as empty in both).

Timestamps: the Hive connector reads `timestamp` columns as timestamp(3)
(hive.timestamp-precision defaults to MILLISECONDS, as Athena's Hive tables
are millisecond precision); our Parquet holds microseconds, so Trino and
Athena round them to the millisecond.
"""
import argparse
import base64
import hashlib
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
from spark_check import parse_table, split_statements  # noqa: E402  (the DDL reader spark_check uses)

CATALOG = "hive"

# Hive (Athena DDL) type -> Trino type of the Hive connector. Exact
# equivalents only; `timestamp` is read at hive.timestamp-precision
# (MILLISECONDS by default), so Trino reports timestamp(3).
HIVE_TO_TRINO = {
    "boolean": "boolean",
    "tinyint": "tinyint",
    "smallint": "smallint",
    "int": "integer",
    "integer": "integer",
    "bigint": "bigint",
    "float": "real",
    "double": "double",
    "string": "varchar",
    "binary": "varbinary",
    "date": "date",
    "timestamp": "timestamp(3)",
}
# Parameterised Hive types whose Trino spelling is the same.
HIVE_PARAM_TYPES = re.compile(r"^(decimal\(\d+,\s*\d+\)|varchar\(\d+\)|char\(\d+\))$")


class TrinoError(Exception):
    def __init__(self, message, name=None, query_id=None):
        super().__init__(message)
        self.name = name
        self.query_id = query_id


def trino_type(hive_type):
    """The Trino type of a Hive column type; ValueError when there is no
    exact one (the DDL would then mean something Trino cannot read alike)."""
    t = hive_type.strip().lower()
    if t in HIVE_TO_TRINO:
        return HIVE_TO_TRINO[t]
    if HIVE_PARAM_TYPES.match(t):
        return t.replace(" ", "")
    raise ValueError(f"no Trino type for Hive type {hive_type!r} (add it to HIVE_TO_TRINO only if exact)")


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


def qid(s):
    return '"' + s.replace('"', '""') + '"'


def data_size_bytes(text):
    """Bytes of an airlift DataSize as Trino's JSON writes it ("1218B",
    "1.5MB": binary units)."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*(B|kB|MB|GB|TB|PB)\s*", str(text))
    if not m:
        raise ValueError(f"not a data size: {text!r}")
    power = ["B", "kB", "MB", "GB", "TB", "PB"].index(m.group(2))
    return round(float(m.group(1)) * 1024**power)


class Result:
    def __init__(self, query_id, columns, rows, stats, elapsed_ms):
        self.query_id = query_id
        self.columns = columns  # [{"name", "type"}]
        self.rows = rows  # lists of Trino's JSON values
        self.stats = stats  # the last page's stats
        self.elapsed_ms = elapsed_ms


class Trino:
    """A client of Trino's statement protocol (POST /v1/statement, then GET
    each nextUri until there is none), keeping what a session keeps: prepared
    statements (X-Trino-Added-Prepare -> X-Trino-Prepared-Statement) and
    session properties."""

    def __init__(self, server, schema=None, catalog=CATALOG, user="mirrorlake", session=None, timeout=300):
        server = server.rstrip("/")
        host = urllib.parse.urlsplit(server).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"{server}: only a loopback Trino is allowed here")
        self.server = server
        self.catalog = catalog
        self.schema = schema
        self.user = user
        self.session = dict(session or {})
        self.prepared = {}
        self.timeout = timeout

    def _headers(self, session=None):
        h = {
            "X-Trino-User": self.user,
            "X-Trino-Source": "mirrorlake-tests",
            "X-Trino-Time-Zone": "UTC",
            # Without it Trino rounds every timestamp to milliseconds and types it `timestamp`.
            "X-Trino-Client-Capabilities": "PARAMETRIC_DATETIME",
        }
        if self.catalog:
            h["X-Trino-Catalog"] = self.catalog
        if self.schema:
            h["X-Trino-Schema"] = self.schema
        props = {**self.session, **(session or {})}
        if props:
            h["X-Trino-Session"] = ",".join(f"{k}={urllib.parse.quote_plus(str(v))}" for k, v in props.items())
        if self.prepared:
            h["X-Trino-Prepared-Statement"] = ",".join(
                f"{urllib.parse.quote_plus(k)}={urllib.parse.quote_plus(v)}" for k, v in self.prepared.items()
            )
        return h

    def _request(self, method, url, body=None, headers=None):
        if not url.startswith(self.server + "/"):
            raise TrinoError(f"refusing to follow {url}: not {self.server}")
        for attempt in range(60):
            req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
            try:
                with urllib.request.urlopen(req, timeout=60) as resp:
                    return json.loads(resp.read().decode()), resp.headers
            except urllib.error.HTTPError as e:
                # The protocol: 502/503/504 mean "try again" (the server is busy or starting).
                if e.code in (502, 503, 504) and attempt < 59:
                    time.sleep(0.5)
                    continue
                raise TrinoError(f"HTTP {e.code} from {method} {url}: {e.read().decode(errors='replace')[:500]}")
        raise AssertionError("unreachable")

    def _headers_back(self, h):
        for v in h.get_all("X-Trino-Added-Prepare") or []:
            k, _, s = v.partition("=")
            self.prepared[urllib.parse.unquote_plus(k)] = urllib.parse.unquote_plus(s)
        for v in h.get_all("X-Trino-Deallocated-Prepare") or []:
            self.prepared.pop(urllib.parse.unquote_plus(v), None)
        for v in h.get_all("X-Trino-Set-Session") or []:
            k, _, s = v.partition("=")
            self.session[k] = urllib.parse.unquote_plus(s)

    def execute(self, sql, session=None):
        """Runs one statement to its end; returns a Result or raises
        TrinoError with Trino's message."""
        t0 = time.monotonic()
        headers = self._headers(session)
        page, h = self._request("POST", f"{self.server}/v1/statement", sql.encode(), headers)
        self._headers_back(h)
        columns, rows, deadline = None, [], time.monotonic() + self.timeout
        while True:
            if page.get("columns") and columns is None:
                columns = [{"name": c["name"], "type": c["type"]} for c in page["columns"]]
            rows.extend(page.get("data") or [])
            if page.get("error"):
                e = page["error"]
                raise TrinoError(e.get("message", str(e)), e.get("errorName"), page.get("id"))
            nxt = page.get("nextUri")
            if not nxt:
                break
            if time.monotonic() > deadline:
                raise TrinoError(f"query {page.get('id')} still running after {self.timeout}s")
            page, h = self._request("GET", nxt, None, {"X-Trino-User": self.user})
            self._headers_back(h)
        return Result(page.get("id"), columns or [], rows, page.get("stats", {}), (time.monotonic() - t0) * 1000)

    def query_info(self, query_id):
        info, _ = self._request("GET", f"{self.server}/v1/query/{query_id}", None, {"X-Trino-User": self.user})
        return info

    def physical_input_bytes(self, query_id):
        """The bytes the query read from storage: `queryStats` of GET
        /v1/query/{id}. Trino 476 names it physicalInputDataSize there (an
        airlift DataSize, "1218B"; the statement protocol's last page calls
        the same figure stats.physicalInputBytes)."""
        stats = self.query_info(query_id)["queryStats"]
        if "physicalInputBytes" in stats:
            return int(stats["physicalInputBytes"])
        return data_size_bytes(stats["physicalInputDataSize"])


# --------------------------------------------------------------------------
# The lake's tables


def translate(stmt, lake, schema):
    """(table, Trino CREATE TABLE, [(name, hive type, trino type, comment)],
    partition names, dropped TBLPROPERTIES) of one generated CREATE EXTERNAL
    TABLE statement (see the module comment)."""
    table, location, cols, parts, props = parse_table(stmt)
    if not location.rstrip("/").endswith("/" + table):
        raise ValueError(f"{table}: LOCATION {location!r} does not end in /{table}/")
    lake = str(Path(lake).resolve())
    defs, all_cols = [], []
    for name, hive_t, comment in cols + parts:
        t = trino_type(hive_t)
        all_cols.append((name, hive_t, t, comment))
        defs.append(f"  {qid(name)} {t}" + (f" COMMENT {sql_str(comment)}" if comment else ""))
    create = (
        f"CREATE TABLE {CATALOG}.{qid(schema)}.{qid(table)} (\n"
        + ",\n".join(defs)
        + "\n)\nWITH (\n  format = 'PARQUET',\n"
        + f"  external_location = {sql_str('local://' + lake + '/' + table)},\n"
        + "  partitioned_by = ARRAY[" + ", ".join(sql_str(p[0]) for p in parts) + "]\n)"
    )
    return table, create, all_cols, [p[0] for p in parts], props


def default_schema(lake):
    """One schema per lake folder (a benchmark and a test never share tables)."""
    return "lake_" + hashlib.sha1(str(Path(lake).resolve()).encode()).hexdigest()[:12]


def generated_ddl(aggregator):
    """`mirrorlake-aggregator ddl --format athena` (both tables); the s3://
    location is replaced by the lake's folder in translate()."""
    import subprocess

    out = subprocess.run(
        [aggregator, "ddl", "--format", "athena", "--location", "s3://mirrorlake-trino-check/lake"],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(f"aggregator ddl: {out.stderr.strip()}")
    return out.stdout


def register_lake(trino, lake, ddl_text, schema, log=lambda _m: None):
    """Creates `schema` (if absent) and each table of the DDL in it, afresh
    (DROP TABLE of an external table forgets the metadata only), then
    registers its partitions. Returns translate()'s tuples."""
    trino.execute(f"CREATE SCHEMA IF NOT EXISTS {CATALOG}.{qid(schema)}")
    done = []
    for stmt in split_statements(ddl_text):
        t = translate(stmt, lake, schema)
        table, create = t[0], t[1]
        trino.execute(f"DROP TABLE IF EXISTS {CATALOG}.{qid(schema)}.{qid(table)}")
        trino.execute(create)
        log(f"created {CATALOG}.{schema}.{table}")
        trino.execute(f"CALL {CATALOG}.system.sync_partition_metadata({sql_str(schema)}, {sql_str(table)}, 'FULL')")
        done.append(t)
    return done


def run_on_lake(server, lake, sql, aggregator=None, ddl_text=None, schema=None, register=True,
                column_index=True, session=None):
    """Registers `lake` (unless register=False) and runs `sql` with the
    lake's schema as the default one. Returns a dict: query_id, columns,
    rows, physical_input_bytes, elapsed_ms."""
    schema = schema or default_schema(lake)
    trino = Trino(server, schema=schema)
    if register:
        if ddl_text is None:
            if aggregator is None:
                raise ValueError("need the DDL text or the aggregator binary to make it")
            ddl_text = generated_ddl(aggregator)
        register_lake(trino, lake, ddl_text, schema)
    props = dict(session or {})
    if not column_index:
        props[f"{CATALOG}.parquet_use_column_index"] = "false"
    r = trino.execute(sql, session=props)
    return {
        "query_id": r.query_id,
        "columns": r.columns,
        "rows": r.rows,
        "physical_input_bytes": trino.physical_input_bytes(r.query_id),
        "statement_physical_input_bytes": r.stats.get("physicalInputBytes"),
        "elapsed_ms": round(r.elapsed_ms),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", default="http://127.0.0.1:18080")
    ap.add_argument("--lake", required=True)
    ap.add_argument("--aggregator", help="mirrorlake-aggregator (makes the DDL when --ddl is not given)")
    ap.add_argument("--ddl", help="the text of `mirrorlake-aggregator ddl --format athena`")
    ap.add_argument("--schema", help="Hive schema of the lake's tables (default: one per lake folder)")
    ap.add_argument("--no-register", action="store_true", help="the tables are registered already")
    ap.add_argument("--no-column-index", action="store_true", help="hive.parquet_use_column_index=false")
    ap.add_argument("--session", action="append", default=[], metavar="K=V", help="a session property")
    ap.add_argument("sql")
    args = ap.parse_args()
    session = dict(s.split("=", 1) for s in args.session)
    ddl = Path(args.ddl).read_text() if args.ddl else None
    try:
        out = run_on_lake(args.server, args.lake, args.sql, args.aggregator, ddl, args.schema,
                          not args.no_register, not args.no_column_index, session)
    except TrinoError as e:
        print(f"trino: {e.name or 'error'}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(out, default=str))
    return 0


def decode_varbinary(v):
    """Trino's JSON gives varbinary as base64; mirrorlake's as hex."""
    return base64.b64decode(v).hex()


if __name__ == "__main__":
    sys.exit(main())
