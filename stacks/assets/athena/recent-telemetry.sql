-- Recent telemetry: the newest 100 readings of the last hour, CO2 and temperature (seed 000, "Query Recent Telemetry").
-- Written in the SQL that Athena (Trino) and DuckDB share; test/queries/saved-queries.test.ts runs it on the twin's files.
-- The partition predicate (year/month/day/hour of the cutoff) keeps Athena to the last two hours of files.
SELECT
  thingname AS thing_name,
  ts,
  metrics.co2_ppm AS co2_ppm,
  metrics.temperature_c AS temperature_c
FROM readings
WHERE year * 1000000 + month * 10000 + day * 100 + hour >=
      year(CAST(current_timestamp AS TIMESTAMP) - INTERVAL '1' HOUR) * 1000000
    + month(CAST(current_timestamp AS TIMESTAMP) - INTERVAL '1' HOUR) * 10000
    + day(CAST(current_timestamp AS TIMESTAMP) - INTERVAL '1' HOUR) * 100
    + hour(CAST(current_timestamp AS TIMESTAMP) - INTERVAL '1' HOUR)
  AND ts >= date_diff('millisecond', TIMESTAMP '1970-01-01 00:00:00', CAST(current_timestamp AS TIMESTAMP) - INTERVAL '1' HOUR)
ORDER BY ts DESC, thingname
LIMIT 100
