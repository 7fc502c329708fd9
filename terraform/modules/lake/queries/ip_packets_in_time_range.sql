-- All packets to or from one IP address between two instants, oldest first, with the frame for export.
-- Execution parameters, in order: the IP address twice ('10.0.1.23', '10.0.1.23'); first and last UTC day ('2024-05-01', '2024-05-01');
-- first and last instant (TIMESTAMP '2024-05-01 10:00:00', TIMESTAMP '2024-05-01 10:30:00', UTC). Keep the day range tight: it selects the partitions read.
-- Files carry bloom filters and page statistics on src_ip/dst_ip: engines that use them (Athena, DataFusion) skip most row groups and pages.
-- Example: '10.0.1.23', '10.0.1.23', '2024-05-01', '2024-05-01', TIMESTAMP '2024-05-01 10:00:00', TIMESTAMP '2024-05-01 10:30:00'
SELECT
  p.ts,
  p.src_ip,
  p.src_port,
  p.dst_ip,
  p.dst_port,
  p.protocol,
  p.tcp_flags,
  p.wire_len,
  p.direction,
  p.mirror_source,
  p.vni,
  p.community_id,
  p.frame
FROM packets AS p
WHERE (p.src_ip = ? OR p.dst_ip = ?)
  AND p.dt BETWEEN ? AND ?
  AND p.ts BETWEEN ? AND ?
ORDER BY p.ts
LIMIT 100000
