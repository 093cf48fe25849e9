/**
 * Live updates (Lambda), invoked asynchronously by the IoT rule on `devices/+/telemetry` with
 * `{thingName, ts, deviceTs, metrics}`: posts the reading to the WebSocket connections following the
 * device's building and keeps the building's latest-reading rows current.
 *
 * Malformed events are logged and dropped. Registry or table failures throw (the asynchronous
 * invocation is retried); a failed post to one connection is logged, never retried, so the others
 * do not get the reading twice.
 */
import { ApiGatewayManagementApiClient } from "@aws-sdk/client-apigatewaymanagementapi";
import type { Context } from "aws-lambda";
import { createDocumentClient, environmentCredentials } from "../shared/aws";
import { integerInRange, loadConfig, optionalString, requiredString } from "../shared/config";
import { createLogger, errorFields } from "../shared/log";
import { describeIssues, preview } from "../shared/registry";
import { TELEMETRY_BROADCAST as C } from "./contract";

// TEMPORARY (branch pipeline-stack): the contract no longer has these settings; the stream consumer
// (branch stream-consumer) replaces this handler. Until then the old per-reading logic reads them here,
// as absent when unset (the stack no longer sets them): then it neither rolls up nor keeps latest rows.
const LEGACY_ENV = { latestTableName: "TELEMETRY_LATEST_TABLE_NAME", rollupTableName: "TELEMETRY_ROLLUP_TABLE_NAME", latestTtlSeconds: "LATEST_TTL_SECONDS" };
const LEGACY_TTL = { fallback: 90 * 86400, range: { min: 3600, max: 3650 * 86400 } };
import { broadcastTelemetry, telemetryEventSchema, type BroadcastDeps, type BroadcastOutcome } from "./broadcast";

const config = loadConfig(() => {
  const callbackUrl = requiredString(process.env, C.env.callbackUrl);
  if (!/^https?:\/\/[^\s]+$/.test(callbackUrl)) throw new Error(`environment variable ${C.env.callbackUrl} must be an https URL, got "${callbackUrl}"`);
  return {
    callbackUrl,
    registryTableName: requiredString(process.env, C.env.registryTableName),
    connectionsTableName: requiredString(process.env, C.env.connectionsTableName),
    latestTableName: optionalString(process.env, LEGACY_ENV.latestTableName, ""),
    rollupTableName: optionalString(process.env, LEGACY_ENV.rollupTableName, ""),
    latestTtlSeconds: integerInRange(process.env, LEGACY_ENV.latestTtlSeconds, LEGACY_TTL.fallback, LEGACY_TTL.range),
  };
});

const logger = createLogger({ service: "telemetry-broadcast", environment: optionalString(process.env, C.env.environment, C.defaults.environment) });
const ddb = createDocumentClient({ connectionTimeoutMs: 1000, requestTimeoutMs: 3000, maxAttempts: 3 });
const api = config.ok
  ? new ApiGatewayManagementApiClient({
      endpoint: config.value.callbackUrl,
      maxAttempts: 2,
      requestHandler: { connectionTimeout: 1000, requestTimeout: 3000, throwOnRequestTimeout: true },
      credentials: environmentCredentials,
    })
  : undefined;

export type BroadcastResult = { status: "dropped" } | { status: BroadcastOutcome["outcome"]; delivered?: number; gone?: number; failed?: number };

export async function handler(event: unknown, context?: Partial<Context>): Promise<BroadcastResult> {
  const log = logger.child({ requestId: context?.awsRequestId });
  if (!config.ok || !api) {
    const error = config.ok ? "no API client" : config.error;
    log.error("configuration invalid", { error });
    throw new Error(`telemetry-broadcast misconfigured: ${error}`);
  }
  const parsed = telemetryEventSchema.safeParse(event);
  if (!parsed.success) {
    const e = (typeof event === "object" && event !== null ? event : {}) as Record<string, unknown>;
    log.warn("malformed telemetry event dropped", { issues: describeIssues(parsed.error, 5), thingName: preview(e.thingName) });
    return { status: "dropped" };
  }
  const { registryTableName, connectionsTableName, latestTableName, rollupTableName, latestTtlSeconds } = config.value;
  const deps: BroadcastDeps = { ddb, api, registryTableName, connectionsTableName, latestTableName, rollupTableName, latestTtlSeconds };
  try {
    const outcome = await broadcastTelemetry(deps, parsed.data);
    if (outcome.outcome === "no-building") {
      log.debug("device has no building; nothing to broadcast", { thingName: parsed.data.thingName, rollup: outcome.rollup });
      return { status: "no-building" };
    }
    const fields = { thingName: parsed.data.thingName, ...outcome };
    if (outcome.rollup === "full") log.warn("hourly rollup full; reading left out of it", fields);
    if (outcome.failed > 0) log.warn("broadcast with failed posts", fields);
    else log.info("broadcast", fields);
    return { status: outcome.outcome, delivered: outcome.delivered, gone: outcome.gone, failed: outcome.failed };
  } catch (error) {
    log.error("broadcast failed; the invocation will be retried", { thingName: parsed.data.thingName, ...errorFields(error) });
    throw error;
  }
}
