/** The hourly rollup job's contract, shared by the handler, the `telemetry` stack and the local twin. */
import { COMMON_ENV, DEFAULT_ENVIRONMENT, defineContract } from "../shared/contract";

export const TELEMETRY_ROLLUP = defineContract({
  handler: "telemetry-rollup",
  // One run rolls up to maxHoursPerRun hours of the whole fleet (one Query and at most one PutItem per
  // device-hour); it stops before this deadline and the next run continues from the watermark.
  timeoutSeconds: 300,
  memoryMiB: 256,
  env: {
    environment: COMMON_ENV.environment,
    /** Scanned (keys only) once per run: every registered device is a thing whose readings are rolled. */
    registryTableName: COMMON_ENV.registryTableName,
    /** Read with consistent Queries, one device-hour at a time. */
    telemetryTableName: COMMON_ENV.telemetryTableName,
    rollupTableName: COMMON_ENV.rollupTableName,
    /** How long a rollup item outlives the end of its hour (the hot-store retention); also how far back a first run starts. */
    rollupTtlSeconds: "ROLLUP_TTL_SECONDS",
    /** Completed hours one run rolls at most, oldest first (a first run or a backlog catches up this many per run). */
    maxHoursPerRun: "ROLLUP_MAX_HOURS_PER_RUN",
  },
  defaults: { environment: DEFAULT_ENVIRONMENT, rollupTtlSeconds: 90 * 86400, maxHoursPerRun: 48 },
  ranges: { rollupTtlSeconds: { min: 3600, max: 3650 * 86400 }, maxHoursPerRun: { min: 1, max: 24 * 14 } },
});

/**
 * When EventBridge runs the job: 7 minutes past every hour (UTC). The job itself only rolls hours that
 * ended at least SETTLE_MS before it runs (job.ts), so readings of the last second of an hour that are
 * still being written by the store rule are counted.
 */
export const ROLLUP_SCHEDULE_EXPRESSION = "cron(7 * * * ? *)";
