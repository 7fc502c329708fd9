-- DNS to unusual resolvers: port 53 traffic (UDP or TCP) to any server other than the VPC's resolvers (DNS exfiltration, tunnels, misconfigured hosts).
-- Execution parameters, in order: the VPC resolver (the VPC CIDR base + 2, '10.0.0.2'); first and last UTC day ('2024-05-01', '2024-05-01');
-- first and last UTC hour ('2024-05-01 00', '2024-05-01 23'). 169.254.169.253 and fd00:ec2::253 (the Amazon-provided resolver) are always allowed.
-- The dt/hour predicates select the partitions read: keep them tight.
-- Scans: dst_port (row groups without port 53 are skipped by their statistics or dictionaries), then the columns shown, in the hours' partitions.
-- Example: '10.0.0.2', '2024-05-01', '2024-05-01', '2024-05-01 00', '2024-05-01 23'
SELECT
  p.src_ip AS client,
  p.dst_ip AS resolver,
  p.protocol,
  count(*) AS packets,
  sum(p.wire_len) AS bytes,
  min(p.ts) AS first_seen,
  max(p.ts) AS last_seen
FROM packets AS p
WHERE p.dst_port = 53
  AND p.protocol IN (6, 17)
  AND p.dst_ip NOT IN (?, '169.254.169.253', 'fd00:ec2::253')
  AND p.dt BETWEEN ? AND ?
  AND concat(p.dt, ' ', p.hour) BETWEEN ? AND ?
GROUP BY p.src_ip, p.dst_ip, p.protocol
ORDER BY packets DESC
LIMIT 1000
