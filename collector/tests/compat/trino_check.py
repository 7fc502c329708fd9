"""Runs mirrorlake's Athena DDL and named queries on Trino 476 (the engine
Athena v3 forks; `deploy/local/trino.sh start`), against a local lake, and
compares with mirrorlake's own engine (`mirrorlake-aggregator query`). The
Rust test is collector/tests/trino.rs; the REST client and the DDL
translation are in trino_lake.py (read its module comment for how each Hive
type maps and what the translation drops).

usage: trino_check.py --server URL --lake DIR --ddl FILE --aggregator BIN
                      --queries DIR [--expect TABLE=ROWS ...] [--query NAME.sql ...]

1. The DDL (`mirrorlake-aggregator ddl --format athena`, both tables) is
   translated mechanically to Trino's CREATE TABLE ... WITH (format,
   external_location 'local://<lake>/<table>', partitioned_by), in a fresh
   schema, then `CALL system.sync_partition_metadata(...)`: the partitions
   Trino lists must be the lake's dt=/hour= folders.
2. Each table's columns as Trino has them (DESCRIBE) must be the DDL's, in
   order, with the mapped types, the partition columns marked as such.
3. `SELECT *` of each table must be mirrorlake's `SELECT *`, row for row
   (sorted, as multisets; --expect gives the row count too). Timestamps are
   compared at the precision Trino gives (timestamp(3): the Hive connector,
   like Athena's Hive tables, reads milliseconds; our microseconds are
   rounded half up to the millisecond before comparing; Trino does the same).
4. Each named query of --queries, with its `-- Example:` parameters (bound
   by spark_check.py's bind(), as aggregator/tests/named_queries.rs binds
   them), runs on Trino twice, exactly as written: as literal SQL with the
   parameters in place, and in Athena's form, `PREPARE q FROM <the file>`
   then `EXECUTE q USING <the parameters>` (over REST the prepared text goes
   back in the X-Trino-Prepared-Statement header). Both must give
   mirrorlake's rows (multisets: ties of ORDER BY may come in either order)
   and the same column names, and must not be empty. Nothing is rewritten: a
   query Trino rejects is a bug in the query, reported with Trino's error.

Prints what passed and how; exits 1 on any failure or mismatch.
"""
import argparse
import datetime as dt
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_common import SUMMARY, add_lake_options, elapsed, fail, finish, log, parse_options, show  # noqa: E402
from spark_check import bind, example_params, micros, ours, ours_or_fail  # noqa: E402
from trino_lake import CATALOG, Trino, TrinoError, decode_varbinary, qid, register_lake  # noqa: E402


# --------------------------------------------------------------------------
# Canonical values, by Trino's column type


def ts_precision(ty):
    """p of timestamp(p); None when ty is not a timestamp."""
    if ty == "timestamp":
        return 3
    if ty.startswith("timestamp(") and "with time zone" not in ty:
        return int(ty[len("timestamp("):ty.index(")")])
    return None


def round_micros(us, p):
    """us rounded half up to 10^-p seconds (Trino's rounding of a
    microsecond value read into timestamp(p))."""
    q = 10 ** (6 - p)
    return (us + q // 2) // q * q


def element_type(ty):
    return ty[len("array("):-1]


def norm_trino(v, ty):
    if v is None:
        return None
    p = ts_precision(ty)
    if p is not None:
        # "2024-05-01 10:00:00.123"
        d = dt.datetime.fromisoformat(v)
        return ("ts", round_micros(micros(d), p))
    if ty == "varbinary":
        return decode_varbinary(v)
    if ty.startswith("array("):
        return tuple(sorted((norm_trino(x, element_type(ty)) for x in v), key=repr))
    if ty.startswith("decimal"):
        d = Decimal(v)
        return int(d) if d == int(d) else float(d)
    if ty in ("double", "real"):
        return round(float(v), 9)
    return v


def norm_ours(v, ty):
    if v is None:
        return None
    p = ts_precision(ty)
    if p is not None:
        d = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
        return ("ts", round_micros(micros(d), p))
    if ty == "varbinary":
        return v.lower()
    if ty.startswith("array("):
        return tuple(sorted((norm_ours(x, element_type(ty)) for x in v), key=repr))
    if ty.startswith("decimal") or ty in ("double", "real"):
        f = float(v)
        return int(f) if ty.startswith("decimal") and f == int(f) else round(f, 9)
    return v


def compare(label, result, mine, mine_cols):
    """(ok, how) of Trino's Result against mirrorlake's JSON rows."""
    names = [c["name"] for c in result.columns]
    if mine_cols is not None and names != mine_cols:
        return False, f"columns: Trino {names}, mirrorlake {mine_cols}"
    t_rows = [tuple(norm_trino(v, c["type"]) for v, c in zip(r, result.columns)) for r in result.rows]
    m_rows = [tuple(norm_ours(r.get(c["name"]), c["type"]) for c in result.columns) for r in mine]
    if sorted(t_rows, key=repr) == sorted(m_rows, key=repr):
        order = "same order" if t_rows == m_rows else "same rows, ties in another order"
        return True, f"{len(t_rows)} rows ({order})"
    log(f"    {label}: Trino's {len(t_rows)} rows differ from mirrorlake's {len(m_rows)}")
    t_set, m_set = set(t_rows), set(m_rows)
    for r in sorted(t_set - m_set, key=repr)[:5]:
        log(f"      only Trino:      {show(r)}")
    for r in sorted(m_set - t_set, key=repr)[:5]:
        log(f"      only mirrorlake: {show(r)}")
    if t_set == m_set:
        log("      (the same distinct rows, repeated a different number of times)")
    return False, f"rows differ ({len(t_rows)} vs {len(m_rows)})"


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", default="http://127.0.0.1:18080")
    add_lake_options(ap)
    ap.add_argument("--schema", help="Hive schema to create the tables in (default: a fresh one)")
    args, expect = parse_options(ap)
    schema = args.schema or f"check_{time.strftime('%Y%m%d_%H%M%S')}_{id(args) % 100000}"
    trino = Trino(args.server, schema=schema)
    version = trino.execute("SELECT node_version FROM system.runtime.nodes").rows[0][0]
    log(f"[{elapsed()}] Trino {version} at {args.server}, catalog {CATALOG}, schema {schema}, session time zone UTC")
    try:
        return check(args, trino, schema, expect, version)
    finally:
        # The tables are external: dropping them forgets the metadata, never the lake.
        for t in ("packets", "flows"):
            try:
                trino.execute(f"DROP TABLE IF EXISTS {CATALOG}.{qid(schema)}.{qid(t)}")
            except TrinoError:
                pass
        try:
            trino.execute(f"DROP SCHEMA IF EXISTS {CATALOG}.{qid(schema)}")
        except TrinoError:
            pass


def check(args, trino, schema, expect, version):
    # 1. DDL
    log("\n== DDL (mirrorlake-aggregator ddl --format athena, translated to Trino's CREATE TABLE)")
    ddl = Path(args.ddl).read_text()
    try:
        tables = register_lake(trino, args.lake, ddl, schema, log=lambda m: log("  " + m))
    except (TrinoError, ValueError) as e:
        fail(f"DDL: {e}")
        SUMMARY.append(("DDL", "CREATE TABLE", "FAIL", str(e)[:200]))
        return finish(f"Trino {version}", "trino")
    for table, create, cols, parts, props in tables:
        log(f"-- {table}:\n" + "\n".join("   " + l for l in create.splitlines()))
        log(f"   TBLPROPERTIES not carried over (projection -> sync_partition_metadata): {sorted(props)}")
        SUMMARY.append(("DDL", f"CREATE TABLE {table}", "PASS", f"{len(cols)} columns, partitioned by {parts}"))

    # 2.-3. partitions, schema, rows
    for table, _create, cols, parts, _props in tables:
        log(f"\n== table {table}")
        found = sorted(
            "/".join(f"{p}={v}" for p, v in zip(parts, r))
            for r in trino.execute(f'SELECT {", ".join(qid(p) for p in parts)} FROM {qid(table + "$partitions")}').rows
        )
        on_disk = sorted(f"{d.parent.name}/{d.name}" for d in Path(args.lake, table).glob("dt=*/hour=*") if d.is_dir())
        if found == on_disk and found:
            log(f"  sync_partition_metadata: {len(found)} partitions, the lake's folders")
            SUMMARY.append(("stmt", f"sync_partition_metadata {table}", "PASS", f"{len(found)} partitions"))
        else:
            fail(f"{table}: partitions {found} != folders {on_disk}")
            SUMMARY.append(("stmt", f"sync_partition_metadata {table}", "FAIL", "partitions differ"))

        desc = trino.execute(f"DESCRIBE {qid(table)}").rows  # Column, Type, Extra, Comment
        got = [(r[0], r[1], "partition key" in (r[2] or "")) for r in desc]
        want = [(n, t, n in parts) for n, _h, t, _c in cols]
        if got == want:
            log(f"  columns: {len(want) - len(parts)} + partitions {parts}: names and types as in the DDL, mapped")
            SUMMARY.append(("schema", f"{table} columns and types", "PASS", f"{len(want)} columns"))
        else:
            diff = [(w, g) for w, g in zip(want, got) if w != g] or (len(want), len(got))
            fail(f"{table}: columns differ from the DDL: {diff}")
            SUMMARY.append(("schema", f"{table} columns and types", "FAIL", "differ"))
        comments = {r[0]: r[3] or "" for r in desc}
        bad = [n for n, _h, _t, c in cols if comments.get(n, "") != c]
        if bad:
            log(f"  NOTE: comments stored differently for {bad}")

        try:
            res = trino.execute(f"SELECT * FROM {qid(table)}")
            mine = ours(args, f"SELECT * FROM {table}")
        except (TrinoError, RuntimeError) as e:
            fail(f"SELECT * FROM {table}: {e}")
            SUMMARY.append(("read", f"{table} SELECT *", "FAIL", str(e)[:200]))
            continue
        if table in expect and len(res.rows) != expect[table]:
            fail(f"{table}: Trino reads {len(res.rows)} rows, expected {expect[table]}")
        ok, how = compare(f"SELECT * FROM {table}", res, mine, None)
        if ok:
            log(f"  SELECT *: {how}, every column equal to mirrorlake's (timestamps at Trino's ms)")
            SUMMARY.append(("read", f"{table} SELECT *", "PASS", how))
        else:
            fail(f"{table}: SELECT * differs: {how}")
            SUMMARY.append(("read", f"{table} SELECT *", "FAIL", how))
    log(f"[{elapsed()}] tables checked")

    # 4. named queries
    names = args.query or sorted(p.name for p in Path(args.queries).glob("*.sql"))
    log(f"\n== named queries ({len(names)}), as written: literal parameters, then PREPARE/EXECUTE USING")
    for name in names:
        sql = Path(args.queries, name).read_text()
        params = example_params(sql)
        bound = bind(sql, params)
        log(f"-- {name} (parameters: {', '.join(params)})")
        if (got_ours := ours_or_fail(args, name, bound)) is None:
            continue
        mine, mine_cols = got_ours
        if not mine:
            fail(f"{name}: no rows on mirrorlake (the fixture lake should give some): nothing compared")
            SUMMARY.append(("query", name, "FAIL", "empty"))
            continue
        text = sql.strip().removesuffix(";").rstrip()
        outcome = []
        for form in ("literal", "prepared"):
            try:
                if form == "literal":
                    res = trino.execute(bound.strip().removesuffix(";"))
                else:
                    trino.execute(f"PREPARE q FROM {text}")
                    if "q" not in trino.prepared:
                        raise TrinoError("PREPARE did not answer X-Trino-Added-Prepare")
                    try:
                        res = trino.execute(f"EXECUTE q USING {', '.join(params)}")
                    finally:
                        trino.execute("DEALLOCATE PREPARE q")
            except TrinoError as e:
                first = str(e).splitlines()[0][:400]
                log(f"  {form}: Trino rejected it: {e.name}: {first}")
                outcome.append((form, False, f"Trino: {e.name}: {first}"))
                continue
            ok, how = compare(form, res, mine, mine_cols)
            log(f"  {form}: {how}" + ("" if ok else " -- DIFFERENT"))
            outcome.append((form, ok, how))
        if all(ok for _f, ok, _h in outcome):
            SUMMARY.append(("query", name, "PASS", "; ".join(f"{f}: {h}" for f, _o, h in outcome)))
        else:
            bad = "; ".join(f"{f}: {h}" for f, ok, h in outcome if not ok)
            fail(f"{name}: {bad}")
            SUMMARY.append(("query", name, "FAIL", bad))
    log(f"[{elapsed()}] queries done")
    return finish(f"Trino {version}", "trino")


if __name__ == "__main__":
    sys.exit(main())
