"""pyarrow's side of `mirrorlake-loadtest bench`'s writer comparison.

Usage: pyarrow_write.py INPUT.arrow OUTPUT.parquet SETTINGS_JSON

Reads the Arrow IPC file (not timed), writes it as Parquet with the settings
mirrorlake's lake writer uses, best of three, and prints JSON: the seconds,
pyarrow's version and which settings this pyarrow could apply (bloom filters
and a row limit per page are recent additions), so that the Rust side
writes with exactly the same ones.
"""

import inspect
import json
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq


def main():
    src, dst, settings = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    with pa.memory_map(src) as f:
        table = pa.ipc.open_file(f).read_all()
    params = inspect.signature(pq.write_table).parameters
    no_dict = set(settings["no_dictionary"])
    no_stats = set(settings["no_statistics"])
    names = table.schema.names
    kwargs = dict(
        row_group_size=settings["row_group_rows"],
        compression="zstd",
        compression_level=settings["zstd_level"],
        data_page_size=settings["page_bytes"],
        use_dictionary=[n for n in names if n not in no_dict],
        write_statistics=[n for n in names if n not in no_stats],
        write_page_index=True,
    )
    applied = {"bloom_filters": False, "page_rows": False}
    if "bloom_filter_options" in params:
        kwargs["bloom_filter_options"] = {c: True for c in settings["bloom_filter_columns"]}
        applied["bloom_filters"] = True
    if "max_rows_per_page" in params:
        kwargs["max_rows_per_page"] = settings["page_rows"]
        applied["page_rows"] = True
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        pq.write_table(table, dst, **kwargs)
        best = min(best, time.perf_counter() - started)
    print(json.dumps({"seconds": best, "version": pa.__version__, "applied": applied}))


if __name__ == "__main__":
    main()
