/**
 * The hot table's stream consumer (Lambda, event source mapping with ReportBatchItemFailures): per
 * batch of INSERT records, the readings go to the warm store, past the thresholds and to the live
 * WebSocket connections (./consumer.ts). Answers `{ batchItemFailures }` naming the first record a
 * step failed and every later one; malformed records are logged and left out.
 *
 * A misconfigured function (e.g. TELEMETRY_THRESHOLDS that do not parse) fails every invocation,
 * so the mapping retries, then sends the batch to its on-failure queue (alarmed).
 */
import { ApiGatewayManagementApiClient } from "@aws-sdk/client-apigatewaymanagementapi";
import { FirehoseClient } from "@aws-sdk/client-firehose";
import type { Context, DynamoDBBatchResponse } from "aws-lambda";
import { clientConfig, createDocumentClient } from "../shared/aws";
import { loadConfig, optionalString, requiredString } from "../shared/config";
import { createLogger, type Logger } from "../shared/log";
import { TELEMETRY_BROADCAST as C } from "./contract";
import { consumeBatch, type BatchSummary } from "./consumer";
import { createEventInvoker } from "./lambda-invoke";
import { BuildingCache } from "./live-updates";
import { parseThresholds } from "./thresholds";

const config = loadConfig(() => {
  const callbackUrl = requiredString(process.env, C.env.callbackUrl);
  if (!/^https?:\/\/[^\s]+$/.test(callbackUrl)) throw new Error(`environment variable ${C.env.callbackUrl} must be an https URL, got "${callbackUrl}"`);
  return {
    callbackUrl,
    registryTableName: requiredString(process.env, C.env.registryTableName),
    connectionsTableName: requiredString(process.env, C.env.connectionsTableName),
    warmStreamName: requiredString(process.env, C.env.warmStreamName),
    alertFunctionName: requiredString(process.env, C.env.alertFunctionName),
    thresholds: parseThresholds(C.env.thresholds, optionalString(process.env, C.env.thresholds, C.defaults.thresholds)),
  };
});

const logger = createLogger({ service: "telemetry-broadcast", environment: optionalString(process.env, C.env.environment, C.defaults.environment) });
const ddb = createDocumentClient({ connectionTimeoutMs: 1000, requestTimeoutMs: 3000, maxAttempts: 3 });
const firehose = new FirehoseClient(clientConfig({ connectionTimeoutMs: 1000, requestTimeoutMs: 5000 }));
const invoke = createEventInvoker({ maxAttempts: 3, requestTimeoutMs: 5000 });
const api = config.ok
  ? new ApiGatewayManagementApiClient({
      endpoint: config.value.callbackUrl,
      ...clientConfig({ maxAttempts: 2, connectionTimeoutMs: 1000, requestTimeoutMs: 3000 }),
    })
  : undefined;
/** Buildings of devices, kept by the container for 60 s (one registry read per device per minute, not per reading). */
const buildingCache = new BuildingCache(60_000);

/** Live posts stop this long before the invocation's timeout, so a slow API never fails a stored batch. */
const POST_MARGIN_MS = 5000;
/** Malformed records logged one by one per batch; the rest are counted. */
const MAX_SKIP_LINES = 20;

export async function handler(event: unknown, context?: Partial<Context>): Promise<DynamoDBBatchResponse> {
  const log = logger.child({ requestId: context?.awsRequestId });
  if (!config.ok || !api) {
    const error = config.ok ? "no API client" : config.error;
    log.error("configuration invalid", { error });
    throw new Error(`telemetry-broadcast misconfigured: ${error}`);
  }
  const records = (event as { Records?: unknown } | null)?.Records;
  if (!Array.isArray(records)) {
    log.warn("event without Records ignored: not a DynamoDB stream batch");
    return { batchItemFailures: [] };
  }
  const { thresholds, ...tables } = config.value;
  const remaining = context?.getRemainingTimeInMillis?.();
  const { response, summary } = await consumeBatch(
    {
      warm: { firehose, streamName: tables.warmStreamName },
      alerts: { invoke, alertFunctionName: tables.alertFunctionName },
      thresholds,
      live: {
        ddb,
        api,
        registryTableName: tables.registryTableName,
        connectionsTableName: tables.connectionsTableName,
        cache: buildingCache,
        deadline: remaining === undefined ? undefined : Date.now() + remaining - POST_MARGIN_MS,
      },
    },
    records,
  );
  logSummary(log, summary, response.batchItemFailures.length);
  return response;
}

function logSummary(log: Logger, s: BatchSummary, reported: number): void {
  for (const skip of s.skipped.slice(0, MAX_SKIP_LINES)) {
    if (skip.reason === "not-insert") log.debug("stream record skipped", { ...skip });
    else log.warn("malformed stream record skipped", { ...skip });
  }
  const fields = {
    records: s.records,
    readings: s.readings,
    skipped: s.skipped.length,
    warmCalls: s.warmCalls,
    warmRecords: s.warmRecords,
    alertsInvoked: s.alertsInvoked,
    buildings: s.live.buildings,
    delivered: s.live.delivered,
    gone: s.live.gone,
    failedPosts: s.live.failed,
    skippedPosts: s.live.skipped,
  };
  if (s.live.errors.length > 0 || s.live.skipped > 0) log.warn("live updates incomplete", { errors: s.live.errors, ...fields });
  if (s.failure) {
    log.error("batch partly failed; the failed record and the later ones will be retried", { ...fields, ...s.failure, reported });
  } else log.info("batch consumed", fields);
}
