-- Conversations of one IP, one row per flow (Community ID, session, endpoints), from the flows table: first and last packet, packets and bytes each way, TCP flags seen.
-- Execution parameters, in order: the IP, first and last UTC day, first and last UTC hour, then the IP twice more and the same four again
-- ('10.0.1.23', '2024-05-01', '2024-05-01', '2024-05-01 10', '2024-05-01 12', '10.0.1.23', '10.0.1.23', '2024-05-01', '2024-05-01', '2024-05-01 10', '2024-05-01 12').
-- Scans: the flows files of the hours (a small fraction of the packets' bytes), only their row groups whose bloom filters hold the address: one column
-- per UNION ALL branch, which Athena (Trino) pushes into the Parquet reader. A flow has one flows row per minute and per lake file it appears in:
-- this query is the GROUP BY that puts it back together. Its packets: flow_by_community_id.
-- Example: '10.0.1.23', '2024-05-01', '2024-05-01', '2024-05-01 10', '2024-05-01 12', '10.0.1.23', '10.0.1.23', '2024-05-01', '2024-05-01', '2024-05-01 10', '2024-05-01 12'
WITH hits AS (
  SELECT f.*
  FROM flows AS f
  WHERE f.srcaddr = ?
    AND f.dt BETWEEN ? AND ?
    AND concat(f.dt, ' ', f.hour) BETWEEN ? AND ?
  UNION ALL
  SELECT f.*
  FROM flows AS f
  WHERE f.dstaddr = ? AND f.srcaddr <> ?
    AND f.dt BETWEEN ? AND ?
    AND concat(f.dt, ' ', f.hour) BETWEEN ? AND ?
)
SELECT
  f.community_id,
  f.vni,
  f.mirror_source,
  f.srcaddr,
  f.srcport,
  f.dstaddr,
  f.dstport,
  f.protocol,
  min(f."start") AS first_seen,
  max(f."end") AS last_seen,
  sum(f.packets) AS packets,
  sum(f.bytes) AS bytes,
  sum(f.src_bytes) AS src_bytes,
  sum(f.dst_bytes) AS dst_bytes,
  bitwise_or_agg(f.tcp_flags) AS tcp_flags
FROM hits AS f
GROUP BY f.community_id, f.vni, f.mirror_source, f.srcaddr, f.srcport, f.dstaddr, f.dstport, f.protocol
ORDER BY first_seen, f.community_id
