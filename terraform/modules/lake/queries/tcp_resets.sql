-- TCP resets: who reset whose connections, per pair and destination port, with counts and first/last seen (scans, refused ports, killed sessions).
-- Execution parameters, in order: first and last UTC day ('2024-05-01', '2024-05-01'); first and last UTC hour ('2024-05-01 00', '2024-05-01 23').
-- The dt/hour predicates select the partitions read: keep them tight. src_ip is the side that sent the RST.
-- Scans: tcp_flags, protocol and the columns shown, of every row group in the hours' partitions (statistics cannot tell which hold a reset).
-- Example: '2024-05-01', '2024-05-01', '2024-05-01 00', '2024-05-01 23'
SELECT
  p.src_ip,
  p.dst_ip,
  p.src_port,
  count(*) AS resets,
  count(DISTINCT p.community_id) AS flows,
  min(p.ts) AS first_seen,
  max(p.ts) AS last_seen
FROM packets AS p
WHERE p.protocol = 6
  AND bitwise_and(p.tcp_flags, 4) = 4 -- RST (0x04) set
  AND p.dt BETWEEN ? AND ?
  AND concat(p.dt, ' ', p.hour) BETWEEN ? AND ?
GROUP BY p.src_ip, p.dst_ip, p.src_port
ORDER BY resets DESC
LIMIT 1000
