-- Who talked to an IP address in a time range: every conversation with it, by peer, protocol and port, with packets, bytes, first and last seen.
-- Execution parameters, in order: the IP address, first and last UTC day, first and last UTC hour, then the IP address twice more and the same four again
-- ('10.0.1.23', '2024-05-01', '2024-05-02', '2024-05-01 00', '2024-05-02 03', '10.0.1.23', '10.0.1.23', '2024-05-01', '2024-05-02', '2024-05-01 00', '2024-05-02 03').
-- Scans: the dt/hour partitions of the range (keep it tight), and in them only the row groups whose bloom filters hold the address. Each branch of the UNION ALL
-- tests one column, which Athena (Trino) pushes into the Parquet reader; an `OR` across src_ip and dst_ip would read every row group. The second branch leaves
-- out what the first found (a packet from the address to itself). For a mirrored ENI's own traffic, mirror_source = ? (eni_packets_in_time_range) reads less.
-- A packet between two mirrored ENIs is archived twice (egress copy and ingress copy): add a mirror_source filter to count it once.
-- Example: '10.0.1.23', '2024-05-01', '2024-05-02', '2024-05-01 00', '2024-05-02 03', '10.0.1.23', '10.0.1.23', '2024-05-01', '2024-05-02', '2024-05-01 00', '2024-05-02 03'
WITH hits AS (
  SELECT p.src_ip, p.dst_ip, p.protocol, p.dst_port, p.wire_len, p.ts, p.mirror_source, p.vni
  FROM packets AS p
  WHERE p.src_ip = ?
    AND p.dt BETWEEN ? AND ?
    AND concat(p.dt, ' ', p.hour) BETWEEN ? AND ?
  UNION ALL
  SELECT p.src_ip, p.dst_ip, p.protocol, p.dst_port, p.wire_len, p.ts, p.mirror_source, p.vni
  FROM packets AS p
  WHERE p.dst_ip = ? AND p.src_ip <> ?
    AND p.dt BETWEEN ? AND ?
    AND concat(p.dt, ' ', p.hour) BETWEEN ? AND ?
)
SELECT
  src_ip,
  dst_ip,
  protocol,
  dst_port,
  count(*) AS packets,
  sum(wire_len) AS bytes,
  min(ts) AS first_seen,
  max(ts) AS last_seen,
  array_agg(DISTINCT mirror_source) AS seen_by,
  array_agg(DISTINCT vni) AS vnis
FROM hits
GROUP BY src_ip, dst_ip, protocol, dst_port
ORDER BY bytes DESC, src_ip, dst_ip, protocol, dst_port
LIMIT 1000
