/**
 * Hourly telemetry rollups (Lambda, EventBridge schedule `ROLLUP_SCHEDULE_EXPRESSION`): rolls the completed
 * hours after the watermark into one rollup item per device-hour (job.ts). Only EventBridge's
 * `Scheduled Event` runs it (an operator runs it now by invoking it with one); anything else is dropped.
 *
 * It stops starting new device-hours STOP_MARGIN_MS before the Lambda timeout and aborts what is still in
 * flight HARD_MARGIN_MS before it, so the run always ends by itself with the watermark after the last
 * fully rolled hour; the next run continues from there. Failures throw (retried, then the on-failure queue).
 */
import type { Context } from "aws-lambda";
import * as z from "../shared/schema";
import { createDocumentClient } from "../shared/aws";
import { integerInRange, loadConfig, optionalString, requiredString } from "../shared/config";
import { withDeadline } from "../shared/deadline";
import { createLogger, errorFields } from "../shared/log";
import { describeIssues } from "../shared/registry";
import { TELEMETRY_ROLLUP as C } from "./contract";
import { newRun, rollUpCompletedHours, type RollupRun } from "./job";

/** Room left for the device-hours in flight to finish (a Query page and a PutItem, with the client's retries). */
export const STOP_MARGIN_MS = 30_000;
/** Room left after aborting them, to log and return. */
export const HARD_MARGIN_MS = 3_000;

export type TelemetryRollupResult = RollupRun | { status: "dropped" };

const environment = optionalString(process.env, C.env.environment, C.defaults.environment);

const config = loadConfig(() => ({
  registryTableName: requiredString(process.env, C.env.registryTableName),
  telemetryTableName: requiredString(process.env, C.env.telemetryTableName),
  rollupTableName: requiredString(process.env, C.env.rollupTableName),
  ttlSeconds: integerInRange(process.env, C.env.rollupTtlSeconds, C.defaults.rollupTtlSeconds, C.ranges.rollupTtlSeconds),
  maxHoursPerRun: integerInRange(process.env, C.env.maxHoursPerRun, C.defaults.maxHoursPerRun, C.ranges.maxHoursPerRun),
}));

const logger = createLogger({ service: "telemetry-rollup", environment });
const ddb = createDocumentClient({ connectionTimeoutMs: 1000, requestTimeoutMs: 5000, maxAttempts: 3 });

const scheduledEventSchema = z.object({ "detail-type": z.literal("Scheduled Event") });

export async function handler(event: unknown, context?: Partial<Context>): Promise<TelemetryRollupResult> {
  const log = logger.child({ requestId: context?.awsRequestId });
  if (!config.ok) {
    log.error("configuration invalid", { error: config.error });
    throw new Error(`telemetry-rollup misconfigured: ${config.error}`);
  }
  const scheduled = scheduledEventSchema.safeParse(event);
  if (!scheduled.success) {
    log.warn("not a scheduled event: dropped", { issues: describeIssues(scheduled.error, 3) });
    return { status: "dropped" };
  }
  const startedAt = Date.now();
  const remainingMs = context?.getRemainingTimeInMillis?.() ?? C.timeoutSeconds * 1000;
  const run = newRun();
  try {
    const result = await withDeadline(
      remainingMs - HARD_MARGIN_MS,
      (signal) => rollUpCompletedHours({ ddb, ...config.value, now: Date.now, stopAt: startedAt + remainingMs - STOP_MARGIN_MS, signal }, run),
      (): RollupRun => ({ ...run, status: "deadline" }),
    );
    log.info("rollup run", { ...result, durationMs: Date.now() - startedAt });
    return result;
  } catch (error) {
    log.error("rollup run failed; the watermark stays after the last rolled hour", { ...run, ...errorFields(error) });
    throw error;
  }
}
