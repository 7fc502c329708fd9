-- Top talkers per hour: the 20 source/destination pairs with the most bytes in each UTC hour of a range.
-- Execution parameters, in order: first and last UTC day ('2024-05-01', '2024-05-01'); first and last UTC hour ('2024-05-01 00', '2024-05-01 23').
-- The dt/hour predicates select the partitions read: keep them tight. Traffic between two mirrored ENIs is counted on both copies.
-- Scans: src_ip, dst_ip and wire_len of every row of the hours' partitions; flow_top_talkers_per_hour answers the same from the flows table for far fewer bytes.
-- Example: '2024-05-01', '2024-05-01', '2024-05-01 00', '2024-05-01 23'
WITH per_pair AS (
  SELECT
    p.dt,
    p.hour,
    p.src_ip,
    p.dst_ip,
    count(*) AS packets,
    sum(p.wire_len) AS bytes
  FROM packets AS p
  WHERE p.dt BETWEEN ? AND ?
    AND concat(p.dt, ' ', p.hour) BETWEEN ? AND ?
  GROUP BY p.dt, p.hour, p.src_ip, p.dst_ip
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
