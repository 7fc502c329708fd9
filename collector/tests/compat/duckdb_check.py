"""Reads a mirrorlake lake with DuckDB (an engine nobody here wrote) and prints
what it sees as one JSON object: column types, row counts per partition, and a
few aggregates. The Rust test (collector/tests/duckdb.rs) compares them with
mirrorlake's own query and with the schema.

usage: duckdb_check.py LAKE   (a local folder or s3://bucket/prefix)

For s3:// the lake is read through fsspec's s3fs (endpoint and credentials from
AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION): DuckDB's
own httpfs is an extension downloaded from the internet, which this project's
machines cannot reach, so extension autoloading is switched off.
"""
import json
import os
import sys

import duckdb

lake = sys.argv[1].rstrip("/")
con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
if lake.startswith("s3://"):
    import s3fs

    fs = s3fs.S3FileSystem(
        key=os.environ["AWS_ACCESS_KEY_ID"],
        secret=os.environ["AWS_SECRET_ACCESS_KEY"],
        client_kwargs={"endpoint_url": os.environ["AWS_ENDPOINT_URL"], "region_name": os.environ.get("AWS_REGION", "us-east-1")},
    )
    con.register_filesystem(fs)

src = (
    f"read_parquet('{lake}/packets/*/*/*.parquet', hive_partitioning = true, "
    "hive_types = {'dt': VARCHAR, 'hour': VARCHAR})"
)
con.execute(f"CREATE VIEW packets AS SELECT * FROM {src}")
types = [[name, ty] for name, ty, *_ in con.execute("DESCRIBE packets").fetchall()]
per_hour = con.execute("SELECT dt, hour, count(*) FROM packets GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
n, nbytes, flows, ts_min, ts_max, ips = con.execute(
    "SELECT count(*), sum(wire_len), count(DISTINCT community_id), epoch_us(min(ts)), epoch_us(max(ts)), "
    "count(DISTINCT src_ip) FROM packets"
).fetchone()
print(
    json.dumps(
        {
            "duckdb": duckdb.__version__,
            "types": types,
            "per_hour": [[d, h, c] for d, h, c in per_hour],
            "count": n,
            "bytes": int(nbytes or 0),
            "flows": flows,
            "ts_min_us": ts_min,
            "ts_max_us": ts_max,
            "src_ips": ips,
        }
    )
)
