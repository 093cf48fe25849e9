/**
 * `$connect`, `$disconnect` and `$default` of the live-updates WebSocket API (Lambda proxy).
 *   $connect     the authorizer has verified the token; record the connection under each of the
 *                user's buildings (or only `?buildingId=`, which must be one of them): 200, or 403
 *   $disconnect  remove the connection's rows
 *   $default     anything a client sends (e.g. a keep-alive ping against the 10-minute idle timeout): ignored
 * DynamoDB failures fail `$connect` (the client sees 500 and reconnects) and are logged on disconnect.
 */
import type { Context } from "aws-lambda";
import { createDocumentClient } from "../shared/aws";
import { integerInRange, loadConfig, optionalString, requiredString } from "../shared/config";
import { createLogger, errorFields } from "../shared/log";
import { preview } from "../shared/registry";
import { TELEMETRY_CONNECTIONS as C } from "./contract";
import { connect, disconnect, type ConnectionsDeps } from "./connections";

const config = loadConfig(() => ({
  tableName: requiredString(process.env, C.env.connectionsTableName),
  indexName: requiredString(process.env, C.env.indexName),
  ttlSeconds: integerInRange(process.env, C.env.ttlSeconds, C.defaults.ttlSeconds, C.ranges.ttlSeconds),
}));

const logger = createLogger({ service: "telemetry-connections", environment: optionalString(process.env, C.env.environment, C.defaults.environment) });
const ddb = createDocumentClient({ connectionTimeoutMs: 1000, requestTimeoutMs: 3000, maxAttempts: 3 });

export interface WebSocketEvent {
  requestContext?: {
    routeKey?: string;
    connectionId?: string;
    /** What the `$connect` authorizer put in its context (strings), plus principalId. */
    authorizer?: Readonly<Record<string, unknown>> | null;
  };
  queryStringParameters?: Readonly<Record<string, string | undefined>> | null;
}

export interface WebSocketResult {
  statusCode: number;
  body?: string;
}

export async function handler(event: WebSocketEvent, context?: Partial<Context>): Promise<WebSocketResult> {
  const rc = event?.requestContext ?? {};
  const connectionId = rc.connectionId ?? "";
  const log = logger.child({ requestId: context?.awsRequestId, routeKey: preview(rc.routeKey, 40), connectionId: preview(connectionId, 64) });
  if (!config.ok) {
    log.error("configuration invalid", { error: config.error });
    throw new Error(`telemetry-connections misconfigured: ${config.error}`);
  }
  const deps: ConnectionsDeps = { ddb, ...config.value, now: Date.now };

  switch (rc.routeKey) {
    case "$connect": {
      const authorizer = rc.authorizer ?? {};
      const buildingIds = typeof authorizer.buildingIds === "string" ? authorizer.buildingIds.split(",").filter((b) => b.length > 0) : [];
      const outcome = await connect(deps, {
        connectionId,
        authorizedBuildings: buildingIds,
        requestedBuilding: event.queryStringParameters?.buildingId,
        sub: typeof authorizer.sub === "string" ? authorizer.sub : undefined,
      });
      if (outcome.statusCode === 200) {
        log.info("connected", { buildings: outcome.buildings, sub: authorizer.sub });
        return { statusCode: 200 };
      }
      log.warn("connection refused", { statusCode: outcome.statusCode, reason: outcome.message });
      return { statusCode: outcome.statusCode, body: outcome.message };
    }
    case "$disconnect":
      try {
        log.info("disconnected", { removed: await disconnect(deps, connectionId) });
      } catch (error) {
        // The connection is gone either way; TTL and the broadcaster remove what is left.
        log.error("disconnect cleanup failed", errorFields(error));
      }
      return { statusCode: 200 };
    default:
      return { statusCode: 200 };
  }
}
