-- All packets of one flow, by Community ID (the same id Zeek, Suricata, Arkime and Wireshark emit), in arrival order.
-- Execution parameters, in order: the Community ID ('1:OmSiiYiUXquQqXKsI9K7InvUWmg='); first and last UTC day ('2024-05-01', '2024-05-01');
-- first and last UTC hour ('2024-05-01 10', '2024-05-01 12'). The dt/hour predicates select the partitions read: keep them tight.
-- Scans: the hours' partitions, and in them only the row groups whose bloom filters hold the Community ID (a flow's rows sit in its ENI's row groups).
-- Both directions share one Community ID; they may have been received by different collectors, so order by ts, not by file.
-- Example: '1:OmSiiYiUXquQqXKsI9K7InvUWmg=', '2024-05-01', '2024-05-01', '2024-05-01 10', '2024-05-01 12'
SELECT
  p.ts,
  p.src_ip,
  p.src_port,
  p.dst_ip,
  p.dst_port,
  p.protocol,
  p.tcp_flags,
  p.wire_len,
  p.vni,
  p.mirror_source,
  p.dt,
  p.hour
FROM packets AS p
WHERE p.community_id = ?
  AND p.dt BETWEEN ? AND ?
  AND concat(p.dt, ' ', p.hour) BETWEEN ? AND ?
ORDER BY p.ts
LIMIT 100000
