/**
 * Daily fleet health check (Lambda, EventBridge schedule): one SNS summary per run, listing devices
 * offline longer than the threshold (contract.ts) and the counts by status. The event content is
 * not used (any invocation runs the check); failures throw so the invocation is retried and alarmed.
 */
import type { Context } from "aws-lambda";
import { createDocumentClient, createSnsClient } from "../shared/aws";
import { integerInRange, loadConfig, optionalString, requiredString } from "../shared/config";
import { createLogger, errorFields } from "../shared/log";
import { HEALTH_CHECK as C } from "./contract";
import { runHealthCheck } from "./health";

export type HealthCheckResult = { status: "sent"; total: number; offline: string[]; stalledProvisioning: string[] };

const environment = optionalString(process.env, C.env.environment, C.defaults.environment);

const config = loadConfig(() => ({
  tableName: requiredString(process.env, C.env.registryTableName),
  topicArn: requiredString(process.env, C.env.alertTopicArn),
  thresholdSeconds: integerInRange(process.env, C.env.offlineThresholdSeconds, C.defaults.offlineThresholdSeconds, C.ranges.offlineThresholdSeconds),
}));

const logger = createLogger({ service: "health-check", environment });
const ddb = createDocumentClient({ connectionTimeoutMs: 1000, requestTimeoutMs: 5000, maxAttempts: 5 });
const sns = createSnsClient({ connectionTimeoutMs: 1000, requestTimeoutMs: 5000, maxAttempts: 3 });

export async function handler(_event: unknown, context?: Partial<Context>): Promise<HealthCheckResult> {
  const log = logger.child({ requestId: context?.awsRequestId });
  if (!config.ok) {
    log.error("configuration invalid", { error: config.error });
    throw new Error(`health-check misconfigured: ${config.error}`);
  }
  try {
    const { summary, messageId } = await runHealthCheck({ ddb, sns, ...config.value, environment, now: Date.now });
    const result: HealthCheckResult = {
      status: "sent",
      total: summary.total,
      offline: summary.offline.map((r) => r.serialNumber),
      stalledProvisioning: summary.stalledProvisioning.map((r) => r.serialNumber),
    };
    log.info("health summary sent", { ...result, byStatus: summary.byStatus, connected: summary.connected, messageId });
    return result;
  } catch (error) {
    log.error("health check failed", errorFields(error));
    throw error;
  }
}
