/**
 * Device error alerts (Lambda), invoked asynchronously by the IoT rule on `devices/+/errors`.
 * The event is the device's error payload plus `thingName` and `receivedAt` (docs/contracts.md).
 *
 * Malformed events are logged and dropped (returning normally, so Lambda does not retry them).
 * Transient failures (DynamoDB, SNS) throw, so the asynchronous invocation is retried.
 */
import { randomUUID } from "node:crypto";
import type { Context } from "aws-lambda";
import { createDocumentClient, createSnsClient } from "../shared/aws";
import { integerInRange, loadConfig, optionalString, requiredString } from "../shared/config";
import { createLogger, errorFields } from "../shared/log";
import { describeIssues, preview } from "../shared/registry";
import { deviceErrorSchema, handleDeviceError, type AlertDeps } from "./alerts";
import { ALERT_HANDLER as C } from "./contract";

export type AlertHandlerResult = { status: "sent" | "suppressed" | "dropped"; alertKey?: string };

const environment = optionalString(process.env, C.env.environment, C.defaults.environment);

const config = loadConfig(() => ({
  topicArn: requiredString(process.env, C.env.alertTopicArn),
  alertStateTableName: requiredString(process.env, C.env.alertStateTableName),
  cooldownSeconds: integerInRange(process.env, C.env.cooldownSeconds, C.defaults.cooldownSeconds, C.ranges.cooldownSeconds),
}));

const logger = createLogger({ service: "alert-handler", environment });
const ddb = createDocumentClient({ connectionTimeoutMs: 1000, requestTimeoutMs: 3000, maxAttempts: 3 });
const sns = createSnsClient({ connectionTimeoutMs: 1000, requestTimeoutMs: 5000, maxAttempts: 3 });

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
    log.info(result.outcome === "sent" ? "alert sent" : "alert suppressed (cooldown)", {
      ...result,
      thingName: parsed.data.thingName,
      code: parsed.data.code,
    });
    return { status: result.outcome, alertKey: result.alertKey };
  } catch (error) {
    log.error("alert failed; the invocation will be retried", {
      thingName: parsed.data.thingName,
      code: parsed.data.code,
      ...errorFields(error),
    });
    throw error;
  }
}
