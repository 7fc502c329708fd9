-- Who talked to an IP address in a time range: every conversation with it, by peer, protocol and port, with packets, bytes, first and last seen.
-- Execution parameters, in order: the IP address ('10.0.1.23'); first and last UTC day ('2024-05-01', '2024-05-02');
-- first and last UTC hour ('2024-05-01 22', '2024-05-02 03'). The dt/hour predicates select the partitions read: keep them tight.
-- A packet between two mirrored ENIs is archived twice (egress copy and ingress copy): add a mirror_source filter to count it once.
-- Example: '10.0.1.23', '2024-05-01', '2024-05-02', '2024-05-01 00', '2024-05-02 03'
WITH params AS (
  SELECT CAST(? AS varchar) AS ip
)
SELECT
  p.src_ip,
  p.dst_ip,
  p.protocol,
  p.dst_port,
  count(*) AS packets,
  sum(p.wire_len) AS bytes,
  min(p.ts) AS first_seen,
  max(p.ts) AS last_seen,
  array_agg(DISTINCT p.mirror_source) AS seen_by,
  array_agg(DISTINCT p.vni) AS vnis
FROM packets AS p
CROSS JOIN params
WHERE p.dt BETWEEN ? AND ?
  AND concat(p.dt, ' ', p.hour) BETWEEN ? AND ?
  AND params.ip IN (p.src_ip, p.dst_ip)
GROUP BY p.src_ip, p.dst_ip, p.protocol, p.dst_port
ORDER BY bytes DESC
LIMIT 1000
