"""The `flows` table checked against an independent reference: DuckDB (an
engine nobody here wrote) recomputes every flow window from the `packets`
table with a plain GROUP BY, and compares it with the flows rows mirrorlake
wrote, after merging the partial rows of one window (one per lake file).

Both sides are keyed by (window, vni, mirror_source, community_id, client,
server, client port, server port, protocol); the reference orients each
packet with the documented rule (the higher port is the client; equal or no
ports: the address that sorts first as text).

usage: duckdb_flows.py LAKE   (a local folder)
prints one JSON object: packets, flow windows, flows rows, mismatches.
"""
import json
import sys

import duckdb

lake = sys.argv[1].rstrip("/")
con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
packets = f"read_parquet('{lake}/packets/*/*/*.parquet', hive_partitioning = true)"
flows = f"read_parquet('{lake}/flows/*/*/*.parquet', hive_partitioning = true)"

KEY = "w, vni, mirror_source, community_id, a, b, ap, bp, protocol"

reference = con.sql(f"""
WITH p AS (
  SELECT *,
    CASE WHEN src_port IS NOT NULL AND dst_port IS NOT NULL AND src_port <> dst_port
         THEN src_port > dst_port ELSE src_ip <= dst_ip END AS fwd,
    (epoch_us(ts) // 60000000) * 60000000 AS w
  FROM {packets}
  WHERE src_ip IS NOT NULL AND dst_ip IS NOT NULL
), k AS (
  SELECT *,
    CASE WHEN fwd THEN src_ip ELSE dst_ip END AS a,
    CASE WHEN fwd THEN dst_ip ELSE src_ip END AS b,
    CASE WHEN fwd THEN src_port ELSE dst_port END AS ap,
    CASE WHEN fwd THEN dst_port ELSE src_port END AS bp
  FROM p
), f AS (
  SELECT *, min(ts) OVER (PARTITION BY {KEY}) AS first_ts FROM k
)
SELECT {KEY},
  epoch_us(min(ts)) AS start_us, epoch_us(max(ts)) AS end_us,
  CASE WHEN mirror_source = b THEN 'ingress' WHEN mirror_source = a THEN 'egress' ELSE 'unknown' END AS dir,
  count(*) AS packets, sum(wire_len) AS bytes,
  count(*) FILTER (WHERE fwd) AS src_packets, coalesce(sum(wire_len) FILTER (WHERE fwd), 0) AS src_bytes,
  count(*) FILTER (WHERE NOT fwd) AS dst_packets, coalesce(sum(wire_len) FILTER (WHERE NOT fwd), 0) AS dst_bytes,
  bit_or(tcp_flags) AS tcp_flags,
  bit_or(tcp_flags) FILTER (WHERE ts = first_ts) AS tcp_flags_first,
  count(*) FILTER (WHERE truncated) AS truncated_packets
FROM f
GROUP BY ALL
""").fetchall()

written = con.sql(f"""
WITH r AS (
  SELECT epoch_us(window_start) AS w, vni, mirror_source, community_id,
    srcaddr AS a, dstaddr AS b, srcport AS ap, dstport AS bp, protocol,
    "start", "end", flow_direction, packets, bytes, src_packets, src_bytes, dst_packets, dst_bytes,
    tcp_flags, tcp_flags_first, truncated_packets, dt, hour
  FROM {flows}
), m AS (
  SELECT *, min("start") OVER (PARTITION BY {KEY}) AS first_start FROM r
)
SELECT {KEY},
  epoch_us(min("start")) AS start_us, epoch_us(max("end")) AS end_us,
  CASE WHEN count(DISTINCT flow_direction) = 1 THEN any_value(flow_direction) ELSE 'inconsistent' END AS dir,
  sum(packets), sum(bytes), sum(src_packets), sum(src_bytes), sum(dst_packets), sum(dst_bytes),
  bit_or(tcp_flags), bit_or(tcp_flags_first) FILTER (WHERE "start" = first_start),
  sum(truncated_packets)
FROM m
GROUP BY ALL
""").fetchall()

# Every flows row lies in the partition of its window.
misplaced = con.sql(f"""
SELECT count(*) FROM {flows}
WHERE strftime(window_start AT TIME ZONE 'UTC', '%Y-%m-%d') <> dt::VARCHAR
   OR strftime(window_start AT TIME ZONE 'UTC', '%H') <> lpad(hour::VARCHAR, 2, '0')
   OR "start" < window_start OR "end" >= window_start + INTERVAL 1 MINUTE OR "start" > "end"
""").fetchall()[0][0]

def norm(rows):
    """Rows as tuples of text (NULL for None; numbers of any width as integers)."""
    def cell(v):
        if v is None:
            return "NULL"
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return str(int(v))
        return str(v)
    return sorted(tuple(cell(v) for v in r) for r in rows)

ref, got = norm(reference), norm(written)
ref_set, got_set = set(ref), set(got)
only_ref = [r for r in ref if r not in got_set]
only_got = [r for r in got if r not in ref_set]
print(json.dumps({
    "duckdb": duckdb.__version__,
    "packets": con.sql(f"SELECT count(*) FROM {packets}").fetchall()[0][0],
    "ip_packets": sum(int(r[12]) for r in ref),
    "flow_windows": len(ref),
    "flows_rows": con.sql(f"SELECT count(*) FROM {flows}").fetchall()[0][0],
    "flows": con.sql(f"SELECT count(*) FROM (SELECT DISTINCT vni, mirror_source, community_id, srcaddr, dstaddr, srcport, dstport, protocol FROM {flows})").fetchall()[0][0],
    "misplaced_rows": misplaced,
    "mismatches": len(only_ref) + len(only_got),
    "only_in_reference": [list(r) for r in only_ref[:5]],
    "only_in_flows": [list(r) for r in only_got[:5]],
}))
