-- Top talkers per hour from the flows table: the same rows as top_talkers_per_hour (IP traffic), reading a small fraction of the bytes.
-- Execution parameters, in order (the range twice, once per direction): first and last UTC day ('2024-05-01', '2024-05-01'); first and last UTC hour ('2024-05-01 00', '2024-05-01 23'); then the same four again.
-- A flows row counts both directions of a flow: srcaddr to dstaddr (src_packets, src_bytes) and back (dst_packets, dst_bytes). Traffic between two mirrored ENIs is counted on both copies.
-- Example: '2024-05-01', '2024-05-01', '2024-05-01 00', '2024-05-01 23', '2024-05-01', '2024-05-01', '2024-05-01 00', '2024-05-01 23'
WITH sent AS (
  SELECT f.dt, f.hour, f.srcaddr AS src_ip, f.dstaddr AS dst_ip, f.src_packets AS packets, f.src_bytes AS bytes
  FROM flows AS f
  WHERE f.dt BETWEEN ? AND ?
    AND concat(f.dt, ' ', f.hour) BETWEEN ? AND ?
    AND f.src_packets > 0
  UNION ALL
  SELECT f.dt, f.hour, f.dstaddr AS src_ip, f.srcaddr AS dst_ip, f.dst_packets AS packets, f.dst_bytes AS bytes
  FROM flows AS f
  WHERE f.dt BETWEEN ? AND ?
    AND concat(f.dt, ' ', f.hour) BETWEEN ? AND ?
    AND f.dst_packets > 0
),
per_pair AS (
  SELECT dt, hour, src_ip, dst_ip, sum(packets) AS packets, sum(bytes) AS bytes
  FROM sent
  GROUP BY dt, hour, src_ip, dst_ip
),
ranked AS (
  SELECT
    per_pair.*,
    row_number() OVER (PARTITION BY dt, hour ORDER BY bytes DESC, src_ip, dst_ip) AS rank_in_hour
  FROM per_pair
)
SELECT dt, hour, rank_in_hour, src_ip, dst_ip, packets, bytes
FROM ranked
WHERE rank_in_hour <= 20
ORDER BY dt, hour, rank_in_hour
