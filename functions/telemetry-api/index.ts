/**
 * Dashboard read API (API Gateway HTTP API, payload 2.0, JWT authorizer on the dashboard user pool):
 *   GET /buildings                             the caller's building ids (from `building-<id>` groups)
 *   GET /buildings/{buildingId}/devices        devices of one of the caller's buildings, newest reading each (building-devices.ts)
 *   GET /devices/{thingName}/telemetry         readings of a device in one of the caller's buildings
 *   GET /devices/{thingName}/telemetry/aggregate     per-interval aggregates of one device (aggregate.ts)
 *   GET /buildings/{buildingId}/telemetry/aggregate  the same over every device of a building
 * Every route answers CSV instead of JSON when the request prefers it (`Accept: text/csv`, csv.ts);
 * errors are always JSON.
 * API Gateway has verified the token before the function runs; the function authorizes per building.
 * Errors are JSON `{message, errors?}`: 400 bad input, 403 not your building, 404 unknown route, 500.
 */
import type { APIGatewayProxyEventV2WithJWTAuthorizer, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { createDocumentClient } from "../shared/aws";
import { buildingsFromClaims } from "../shared/buildings";
import { loadConfig, optionalString, requiredString } from "../shared/config";
import { createLogger, errorFields } from "../shared/log";
import { preview } from "../shared/registry";
import { aggregateBuildingTelemetry, aggregateDeviceTelemetry } from "./aggregate";
import { TELEMETRY_API as C } from "./contract";
import { bodyToCsv, wantsCsv } from "./csv";
import { listBuildingDevices } from "./building-devices";
import { errorResult, readDeviceTelemetry, type ApiResult, type QueryDeps } from "./queries";

const config = loadConfig(() => ({
  telemetryTableName: requiredString(process.env, C.env.telemetryTableName),
  rollupTableName: requiredString(process.env, C.env.rollupTableName),
  registryTableName: requiredString(process.env, C.env.registryTableName),
}));

const logger = createLogger({ service: "telemetry-api", environment: optionalString(process.env, C.env.environment, C.defaults.environment) });
const ddb = createDocumentClient({ connectionTimeoutMs: 1000, requestTimeoutMs: 3000, maxAttempts: 3 });

type Event = Partial<APIGatewayProxyEventV2WithJWTAuthorizer>;

async function dispatch(event: Event): Promise<ApiResult> {
  if (!config.ok) {
    logger.error("configuration invalid", { error: config.error });
    return errorResult(500, "the telemetry API is misconfigured");
  }
  const deps: QueryDeps = { ddb, ...config.value, now: Date.now };
  const buildings = buildingsFromClaims(event.requestContext?.authorizer?.jwt?.claims);
  const query = event.queryStringParameters ?? {};
  switch (event.routeKey) {
    case "GET /buildings":
      return { statusCode: 200, body: { buildingIds: buildings } };
    case "GET /buildings/{buildingId}/devices":
      return listBuildingDevices(deps, buildings, event.pathParameters?.buildingId, query);
    case "GET /devices/{thingName}/telemetry":
      return readDeviceTelemetry(deps, buildings, event.pathParameters?.thingName, query);
    case "GET /devices/{thingName}/telemetry/aggregate":
      return aggregateDeviceTelemetry(deps, buildings, event.pathParameters?.thingName, query);
    case "GET /buildings/{buildingId}/telemetry/aggregate":
      return aggregateBuildingTelemetry(deps, buildings, event.pathParameters?.buildingId, query);
    default:
      return errorResult(404, `no route for ${preview(event.routeKey, 100) ?? "(no route)"}`);
  }
}

export async function handler(event: APIGatewayProxyEventV2WithJWTAuthorizer, context?: Partial<Context>): Promise<APIGatewayProxyStructuredResultV2> {
  const startedAt = Date.now();
  const e: Event = event ?? {};
  let result: ApiResult;
  try {
    result = await dispatch(e);
  } catch (error) {
    logger.error("request failed", { requestId: context?.awsRequestId, ...errorFields(error) });
    result = errorResult(500, "internal error; the request may be retried");
  }
  logger.info("request", {
    requestId: context?.awsRequestId,
    routeKey: preview(e.routeKey, 100),
    // Who asked, never their token.
    sub: preview(e.requestContext?.authorizer?.jwt?.claims?.sub as string | undefined, 64),
    statusCode: result.statusCode,
    durationMs: Date.now() - startedAt,
    ...(result.statusCode >= 400 ? { error: result.body } : {}),
  });
  const csv = result.statusCode === 200 && wantsCsv(e.headers?.accept) ? bodyToCsv(e.routeKey ?? "", result.body as Record<string, unknown>) : undefined;
  if (csv !== undefined) {
    const nextToken = (result.body as { nextToken?: unknown }).nextToken;
    return {
      statusCode: 200,
      headers: {
        "Content-Type": "text/csv; charset=utf-8",
        "Cache-Control": "no-store",
        Vary: "Accept",
        // A CSV body has no room for the page token; it travels in a header instead.
        ...(typeof nextToken === "string" ? { "X-Next-Token": nextToken } : {}),
      },
      body: csv,
    };
  }
  return {
    statusCode: result.statusCode,
    headers: { "Content-Type": "application/json", "Cache-Control": "no-store", Vary: "Accept" },
    body: JSON.stringify(result.body),
  };
}
