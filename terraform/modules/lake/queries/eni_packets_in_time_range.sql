-- All packets mirrored from one ENI (its own traffic, both directions) between two instants, oldest first, with the frame for export.
-- Execution parameters, in order: the ENI's primary private IP, as the mirror session sends it (mirror_source, '10.0.1.23'); first and last UTC day
-- ('2024-05-01', '2024-05-01'); first and last instant (TIMESTAMP '2024-05-01 10:00:00', TIMESTAMP '2024-05-01 10:30:00', UTC).
-- Scans: the dt partitions of the range, and in them only the ENI's row groups: lake files cut row groups where mirror_source changes, so their
-- min/max statistics rule out every other ENI (the cheapest needle there is). Athena reads ts at millisecond precision.
-- Example: '10.0.1.23', '2024-05-01', '2024-05-01', TIMESTAMP '2024-05-01 10:00:00', TIMESTAMP '2024-05-01 10:30:00'
SELECT
  p.ts,
  p.direction,
  p.src_ip,
  p.src_port,
  p.dst_ip,
  p.dst_port,
  p.protocol,
  p.tcp_flags,
  p.wire_len,
  p.vni,
  p.community_id,
  p.frame
FROM packets AS p
WHERE p.mirror_source = ?
  AND p.dt BETWEEN ? AND ?
  AND p.ts BETWEEN ? AND ?
ORDER BY p.ts, p.src_ip, p.dst_ip
LIMIT 100000
