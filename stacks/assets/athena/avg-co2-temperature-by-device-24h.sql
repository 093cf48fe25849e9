-- Average CO2 and temperature by device over the last 24 hours (seed 000, "Query Average CO2 by Device").
-- Written in the SQL that Athena (Trino) and DuckDB share; test/queries/saved-queries.test.ts runs it on the twin's files.
SELECT
  thingname AS thing_name,
  AVG(metrics.co2_ppm) AS avg_co2_ppm,
  AVG(metrics.temperature_c) AS avg_temperature_c,
  COUNT(*) AS readings
FROM readings
WHERE year * 1000000 + month * 10000 + day * 100 + hour >=
      year(CAST(current_timestamp AS TIMESTAMP) - INTERVAL '24' HOUR) * 1000000
    + month(CAST(current_timestamp AS TIMESTAMP) - INTERVAL '24' HOUR) * 10000
    + day(CAST(current_timestamp AS TIMESTAMP) - INTERVAL '24' HOUR) * 100
    + hour(CAST(current_timestamp AS TIMESTAMP) - INTERVAL '24' HOUR)
  AND ts >= date_diff('millisecond', TIMESTAMP '1970-01-01 00:00:00', CAST(current_timestamp AS TIMESTAMP) - INTERVAL '24' HOUR)
GROUP BY thingname
ORDER BY thingname
