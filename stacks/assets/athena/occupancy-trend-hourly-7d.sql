-- Occupancy trend per hour (UTC) over the last 7 days: readings with occupancy and how many were occupied (seed 000, "Query Occupancy Trends").
-- Written in the SQL that Athena (Trino) and DuckDB share; test/queries/saved-queries.test.ts runs it on the twin's files.
-- occupancy is a string column: a sensor may send true/false or 1/0.
SELECT
  year,
  month,
  day,
  hour,
  COUNT(*) AS events,
  SUM(CASE WHEN lower(metrics.occupancy) IN ('true', '1', '1.0') THEN 1 ELSE 0 END) AS occupied_count
FROM readings
WHERE metrics.occupancy IS NOT NULL
  AND year * 1000000 + month * 10000 + day * 100 + hour >=
      year(CAST(current_timestamp AS TIMESTAMP) - INTERVAL '7' DAY) * 1000000
    + month(CAST(current_timestamp AS TIMESTAMP) - INTERVAL '7' DAY) * 10000
    + day(CAST(current_timestamp AS TIMESTAMP) - INTERVAL '7' DAY) * 100
    + hour(CAST(current_timestamp AS TIMESTAMP) - INTERVAL '7' DAY)
  AND ts >= date_diff('millisecond', TIMESTAMP '1970-01-01 00:00:00', CAST(current_timestamp AS TIMESTAMP) - INTERVAL '7' DAY)
GROUP BY year, month, day, hour
ORDER BY year DESC, month DESC, day DESC, hour DESC
