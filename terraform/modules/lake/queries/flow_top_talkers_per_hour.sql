-- Top talkers per hour from the flows table: the same rows as top_talkers_per_hour (IP traffic), reading a small fraction of the bytes.
-- Execution parameters, in order: first and last UTC day ('2024-05-01', '2024-05-01'); first and last UTC hour ('2024-05-01 00', '2024-05-01 23').
-- A flows row counts both directions of a flow: srcaddr to dstaddr (src_packets, src_bytes) and back (dst_packets, dst_bytes). The table is scanned once; each endpoint pair's sums are then split into its two directions. Traffic between two mirrored ENIs is counted on both copies.
-- Scans: the address and counter columns of the flows files of the hours' partitions, once.
-- Example: '2024-05-01', '2024-05-01', '2024-05-01 00', '2024-05-01 23'
WITH per_endpoints AS (
  SELECT
    f.dt,
    f.hour,
    f.srcaddr,
    f.dstaddr,
    sum(f.src_packets) AS src_packets,
    sum(f.src_bytes) AS src_bytes,
    sum(f.dst_packets) AS dst_packets,
    sum(f.dst_bytes) AS dst_bytes
  FROM flows AS f
  WHERE f.dt BETWEEN ? AND ?
    AND concat(f.dt, ' ', f.hour) BETWEEN ? AND ?
  GROUP BY f.dt, f.hour, f.srcaddr, f.dstaddr
),
sent AS (
  SELECT
    e.dt,
    e.hour,
    CASE WHEN d.side = 0 THEN e.srcaddr ELSE e.dstaddr END AS src_ip,
    CASE WHEN d.side = 0 THEN e.dstaddr ELSE e.srcaddr END AS dst_ip,
    CASE WHEN d.side = 0 THEN e.src_packets ELSE e.dst_packets END AS packets,
    CASE WHEN d.side = 0 THEN e.src_bytes ELSE e.dst_bytes END AS bytes
  FROM per_endpoints AS e
  CROSS JOIN (VALUES (0), (1)) AS d (side)
),
per_pair AS (
  SELECT dt, hour, src_ip, dst_ip, sum(packets) AS packets, sum(bytes) AS bytes
  FROM sent
  WHERE packets > 0
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
