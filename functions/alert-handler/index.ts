/**
 * Device error alerts (Lambda), invoked asynchronously by the IoT rule on `devices/+/errors`.
 * The event is the device's error payload plus `thingName` and `receivedAt` (docs/contracts.md).
 *
 * Malformed events are logged and dropped (returning normally, so Lambda does not retry them).
 * Transient failures (DynamoDB, SNS) throw, so the asynchronous invocation is retried.
 */
import { randomUUID } from "node:crypto";
import type { Context } from "aws-lambda";
import { createDocumentClient, createSnsClient, onFirstUse } from "../shared/aws";
import { integerInRange, loadConfig, optionalString, requiredString } from "../shared/config";
import { ALERT_METRICS, alertMetricFields } from "../shared/alert-metrics";
import { createLogger, errorFields } from "../shared/log";
import { describeIssues, preview } from "../shared/registry";
import { deviceErrorSchema, handleDeviceError, type AlertDeps } from "./alerts";
import { ALERT_HANDLER as C } from "./contract";

export type AlertHandlerResult = { status: "sent" | "muted" | "suppressed" | "dropped"; alertKey?: string; reason?: "cooldown" | "budget" };

const environment = optionalString(process.env, C.env.environment, C.defaults.environment);

const config = loadConfig(() => ({
  topicArn: requiredString(process.env, C.env.alertTopicArn),
  alertStateTableName: requiredString(process.env, C.env.alertStateTableName),
  cooldownSeconds: integerInRange(process.env, C.env.cooldownSeconds, C.defaults.cooldownSeconds, C.ranges.cooldownSeconds),
  budgetPerDevice: integerInRange(process.env, C.env.budgetPerDevice, C.defaults.budgetPerDevice, C.ranges.budgetPerDevice),
  budgetWindowSeconds: integerInRange(process.env, C.env.budgetWindowSeconds, C.defaults.budgetWindowSeconds, C.ranges.budgetWindowSeconds),
}));

const M = ALERT_METRICS.names;

const logger = createLogger({ service: "alert-handler", environment });
const ddb = createDocumentClient({ connectionTimeoutMs: 1000, requestTimeoutMs: 3000, maxAttempts: 3 });
// Created on the first publish: most invocations never publish (functions/shared/aws.ts onFirstUse).
const sns = onFirstUse(() => createSnsClient({ connectionTimeoutMs: 1000, requestTimeoutMs: 5000, maxAttempts: 3 }));

export async function handler(event: unknown, context?: Partial<Context>): Promise<AlertHandlerResult> {
  const log = logger.child({ requestId: context?.awsRequestId });
  if (!config.ok) {
    log.error("configuration invalid", { error: config.error });
    throw new Error(`alert-handler misconfigured: ${config.error}`);
  }
  const parsed = deviceErrorSchema.safeParse(event);
  if (!parsed.success) {
    const e = (typeof event === "object" && event !== null ? event : {}) as Record<string, unknown>;
    log.warn("malformed device error dropped", {
      issues: describeIssues(parsed.error, 5),
      thingName: preview(e.thingName),
      code: preview(e.code),
    });
    return { status: "dropped" };
  }
  const deps: AlertDeps = { ddb, sns, ...config.value, environment, now: Date.now, newClaimId: randomUUID };
  try {
    const result = await handleDeviceError(deps, parsed.data);
    const counts =
      result.outcome === "sent"
        ? { [M.sent]: 1 }
        : result.outcome === "muted"
          ? { [M.mutedNotices]: 1, [M.suppressedBudget]: 1 }
          : { [result.reason === "budget" ? M.suppressedBudget : M.suppressedCooldown]: 1 };
    const message =
      result.outcome === "sent" ? "alert sent" : result.outcome === "muted" ? "device muted (alert budget used up)" : `alert suppressed (${result.reason})`;
    // One line: the log entry and, through its `_aws` member, the CloudWatch metrics (EMF).
    log.info(message, { ...result, thingName: parsed.data.thingName, code: parsed.data.code, ...alertMetricFields(environment, counts) });
    return { status: result.outcome, alertKey: result.alertKey, ...(result.outcome === "suppressed" ? { reason: result.reason } : {}) };
  } catch (error) {
    log.error("alert failed; the invocation will be retried", {
      thingName: parsed.data.thingName,
      code: parsed.data.code,
      ...errorFields(error),
    });
    throw error;
  }
}
