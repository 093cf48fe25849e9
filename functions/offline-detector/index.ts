/**
 * Offline detection (Lambda). Two triggers:
 * - the IoT rule on `$aws/events/presence/+/+` (AWS lifecycle events): records connectivity on the
 *   registry row and moves PROVISIONING -> PROVISIONED on the first connection;
 * - an EventBridge schedule (`detail-type: "Scheduled Event"`): sweeps for devices disconnected longer
 *   than the grace period (contract.ts) and sends one batched alert for the newly offline ones.
 * Malformed events are logged and dropped; transient failures throw so Lambda retries.
 */
import type { Context } from "aws-lambda";
import * as z from "../shared/schema";
import { createDocumentClient, createSnsClient, onFirstUse } from "../shared/aws";
import { integerInRange, loadConfig, optionalString, requiredString } from "../shared/config";
import { ALERT_METRICS, alertMetricFields } from "../shared/alert-metrics";
import { createLogger, errorFields } from "../shared/log";
import { describeIssues, preview } from "../shared/registry";
import { OFFLINE_DETECTOR as C } from "./contract";
import { lifecycleEventSchema, recordLifecycleEvent, type LifecycleOutcome } from "./lifecycle";
import { sweepOfflineDevices } from "./sweep";

export type OfflineDetectorResult = { status: LifecycleOutcome } | { status: "swept"; alerted: string[] } | { status: "dropped" };

const environment = optionalString(process.env, C.env.environment, C.defaults.environment);

const config = loadConfig(() => ({
  tableName: requiredString(process.env, C.env.registryTableName),
  topicArn: requiredString(process.env, C.env.alertTopicArn),
  graceSeconds: integerInRange(process.env, C.env.graceSeconds, C.defaults.graceSeconds, C.ranges.graceSeconds),
}));

const logger = createLogger({ service: "offline-detector", environment });
const ddb = createDocumentClient({ connectionTimeoutMs: 1000, requestTimeoutMs: 3000, maxAttempts: 3 });
// Created on the first publish: most invocations never publish (functions/shared/aws.ts onFirstUse).
const sns = onFirstUse(() => createSnsClient({ connectionTimeoutMs: 1000, requestTimeoutMs: 5000, maxAttempts: 3 }));

const scheduledEventSchema = z.object({ "detail-type": z.literal("Scheduled Event") });

function isScheduled(event: unknown): boolean {
  return typeof event === "object" && event !== null && "detail-type" in event;
}

export async function handler(event: unknown, context?: Partial<Context>): Promise<OfflineDetectorResult> {
  const log = logger.child({ requestId: context?.awsRequestId });
  if (!config.ok) {
    log.error("configuration invalid", { error: config.error });
    throw new Error(`offline-detector misconfigured: ${config.error}`);
  }
  const { tableName, topicArn, graceSeconds } = config.value;

  if (isScheduled(event)) {
    const scheduled = scheduledEventSchema.safeParse(event);
    if (!scheduled.success) {
      log.warn("unexpected EventBridge event dropped", { issues: describeIssues(scheduled.error, 3) });
      return { status: "dropped" };
    }
    try {
      const result = await sweepOfflineDevices({ ddb, sns, tableName, topicArn, graceSeconds, environment, now: Date.now });
      const alerted = result.alerted.map((d) => d.serialNumber);
      const buildings = result.buildings.map((g) => ({ building: g.building ?? null, offline: g.offline, total: g.total, likelyOutage: g.likelyOutage }));
      const metrics = result.messageId ? alertMetricFields(environment, { [ALERT_METRICS.names.offlineAlerts]: 1 }) : {};
      log.info("offline sweep done", { candidates: result.candidates, alerted, buildings, messageId: result.messageId, ...metrics });
      return { status: "swept", alerted };
    } catch (error) {
      log.error("offline sweep failed; it will be retried", errorFields(error));
      throw error;
    }
  }

  const parsed = lifecycleEventSchema.safeParse(event);
  if (!parsed.success) {
    const e = (typeof event === "object" && event !== null ? event : {}) as Record<string, unknown>;
    log.warn("malformed lifecycle event dropped", { issues: describeIssues(parsed.error, 5), clientId: preview(e.clientId) });
    return { status: "dropped" };
  }
  try {
    const status = await recordLifecycleEvent({ ddb, tableName, now: Date.now }, parsed.data);
    log.info("lifecycle event handled", {
      status,
      clientId: preview(parsed.data.clientId),
      eventType: parsed.data.eventType,
      timestamp: parsed.data.timestamp,
    });
    return { status };
  } catch (error) {
    log.error("lifecycle event failed; it will be retried", { clientId: preview(parsed.data.clientId), ...errorFields(error) });
    throw error;
  }
}
