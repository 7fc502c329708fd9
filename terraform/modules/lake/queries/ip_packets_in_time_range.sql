-- All packets to or from one IP address between two instants, oldest first, with the frame for export.
-- Execution parameters, in order: the IP address, first and last UTC day, first and last instant (UTC), then the IP address twice more and the same four again
-- ('10.0.1.23', '2024-05-01', '2024-05-01', TIMESTAMP '2024-05-01 10:00:00', TIMESTAMP '2024-05-01 10:30:00', '10.0.1.23', '10.0.1.23', '2024-05-01', ...).
-- Scans: the dt partitions of the range, and in them the row groups whose ts statistics overlap the instants and whose bloom filters hold the address.
-- Each branch of the UNION ALL tests one address column, which Athena (Trino) pushes into the Parquet reader (an OR across the two columns reads everything);
-- the second leaves out what the first found. Athena reads ts at millisecond precision.
-- Example: '10.0.1.23', '2024-05-01', '2024-05-01', TIMESTAMP '2024-05-01 10:00:00', TIMESTAMP '2024-05-01 10:30:00', '10.0.1.23', '10.0.1.23', '2024-05-01', '2024-05-01', TIMESTAMP '2024-05-01 10:00:00', TIMESTAMP '2024-05-01 10:30:00'
WITH hits AS (
  SELECT p.ts, p.src_ip, p.src_port, p.dst_ip, p.dst_port, p.protocol, p.tcp_flags, p.wire_len, p.direction, p.mirror_source, p.vni, p.community_id, p.frame
  FROM packets AS p
  WHERE p.src_ip = ?
    AND p.dt BETWEEN ? AND ?
    AND p.ts BETWEEN ? AND ?
  UNION ALL
  SELECT p.ts, p.src_ip, p.src_port, p.dst_ip, p.dst_port, p.protocol, p.tcp_flags, p.wire_len, p.direction, p.mirror_source, p.vni, p.community_id, p.frame
  FROM packets AS p
  WHERE p.dst_ip = ? AND p.src_ip <> ?
    AND p.dt BETWEEN ? AND ?
    AND p.ts BETWEEN ? AND ?
)
SELECT *
FROM hits
ORDER BY ts, mirror_source, src_ip, dst_ip
LIMIT 100000
