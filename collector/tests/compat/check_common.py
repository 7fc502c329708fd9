"""What spark_check.py and trino_check.py share: their options, the progress
log, and the record of checks (SUMMARY, FAILURES) they print at the end.
Python standard library only. Imported from the folder of the checkers, which
they put first on sys.path.
"""
import datetime as dt
import time
from pathlib import Path

START = time.monotonic()
FAILURES = []
SUMMARY = []  # (kind, name, status, how)


def log(msg=""):
    print(msg, flush=True)


def elapsed():
    return f"{time.monotonic() - START:5.1f}s"


def fail(what):
    FAILURES.append(what)
    log(f"  FAIL: {what}")


def show(row):
    def one(v):
        if isinstance(v, tuple) and len(v) == 2 and v[0] == "ts":
            return dt.datetime.fromtimestamp(v[1] / 1e6, dt.timezone.utc).isoformat()
        if isinstance(v, str) and len(v) > 40:
            return v[:37] + "..."
        return v

    return "(" + ", ".join(repr(one(v)) for v in row) + ")"


def add_lake_options(ap):
    """--lake, --ddl, --aggregator and --queries: the lake and what to run on it."""
    ap.add_argument("--lake", required=True)
    ap.add_argument("--ddl", required=True)
    ap.add_argument("--aggregator", required=True)
    ap.add_argument("--queries", required=True)


def parse_options(ap):
    """Adds --expect and --query, parses the command line; returns the
    options (--lake made absolute) and --expect as {table: rows}."""
    ap.add_argument("--expect", action="append", default=[], metavar="TABLE=ROWS")
    ap.add_argument("--query", action="append", default=[], metavar="NAME.sql")
    args = ap.parse_args()
    args.lake = str(Path(args.lake).resolve())
    expect = {t: int(n) for t, n in (e.split("=", 1) for e in args.expect)}
    return args, expect


def finish(title, engine):
    """Prints the summary of the checks (SUMMARY) and the FAILURES; the exit
    code: 1 on any failure, else 0."""
    log(f"\n== summary: {title}")
    for kind, name, status, how in SUMMARY:
        log(f"  {status}  {kind:6} {name}: {how}")
    passed = sum(1 for s in SUMMARY if s[2] == "PASS")
    # (not in the "N passed, N failed" shape: that is a test runner's closing line)
    log(f"{engine} summary: {passed} of {len(SUMMARY)} checks passed in {time.monotonic() - START:.1f}s")
    if FAILURES:
        log("\nFAILURES:\n" + "\n".join("  " + f for f in FAILURES))
        return 1
    return 0
