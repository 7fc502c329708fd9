-- New TCP connections to a destination port: SYN packets without ACK (connection attempts), oldest first.
-- Execution parameters, in order: the destination port (22); first and last UTC day ('2024-05-01', '2024-05-01');
-- first and last UTC hour ('2024-05-01 00', '2024-05-01 23'). The dt/hour predicates select the partitions read: keep them tight.
-- Retransmitted SYNs share the Community ID of their attempt: group by community_id to count attempts instead of packets.
-- Scans: dst_port and protocol of the hours' partitions (row groups without the port are skipped by their statistics or dictionaries), then tcp_flags and the columns shown.
-- Example: 22, '2024-05-01', '2024-05-01', '2024-05-01 00', '2024-05-01 23'
SELECT
  p.ts,
  p.src_ip,
  p.src_port,
  p.dst_ip,
  p.dst_port,
  p.community_id,
  p.vni,
  p.mirror_source
FROM packets AS p
WHERE p.protocol = 6
  AND p.dst_port = ?
  AND bitwise_and(p.tcp_flags, 18) = 2 -- SYN (0x02) set, ACK (0x10) clear
  AND p.dt BETWEEN ? AND ?
  AND concat(p.dt, ' ', p.hour) BETWEEN ? AND ?
ORDER BY p.ts
LIMIT 10000
