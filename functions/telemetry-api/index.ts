/**
 * Dashboard read API (API Gateway HTTP API, payload 2.0, JWT authorizer on the dashboard user pool):
 *   GET /buildings                             the caller's building ids (from `building-<id>` groups)
 *   GET /buildings/{buildingId}/devices        devices of one of the caller's buildings, latest reading each
 *   GET /devices/{thingName}/telemetry         readings of a device in one of the caller's buildings
 * API Gateway has verified the token before the function runs; the function authorizes per building.
 * Errors are JSON `{message, errors?}`: 400 bad input, 403 not your building, 404 unknown route, 500.
 */
import type { APIGatewayProxyEventV2WithJWTAuthorizer, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { createDocumentClient } from "../shared/aws";
import { buildingsFromClaims } from "../shared/buildings";
import { loadConfig, optionalString, requiredString } from "../shared/config";
import { createLogger, errorFields } from "../shared/log";
import { preview } from "../shared/registry";
import { TELEMETRY_API as C } from "./contract";
import { errorResult, listBuildingDevices, readDeviceTelemetry, type ApiResult, type QueryDeps } from "./queries";

const config = loadConfig(() => ({
  telemetryTableName: requiredString(process.env, C.env.telemetryTableName),
  latestTableName: requiredString(process.env, C.env.latestTableName),
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
  return {
    statusCode: result.statusCode,
    headers: { "Content-Type": "application/json", "Cache-Control": "no-store" },
    body: JSON.stringify(result.body),
  };
}
