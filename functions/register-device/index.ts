/**
 * Registration API (API Gateway REST, Lambda proxy integration):
 *   POST   /devices                 {serialNumber, deviceType, metadata?, provisioningTokenSha256?}
 *                                    201 created, 200 same again, 409 differs; 400 for a reserved serial
 *   GET    /devices?status=&deviceType=&limit=&nextToken=   200 {devices, nextToken?}
 *   GET    /devices/{serialNumber}  200 the registry item, 404 none
 *   DELETE /devices/{serialNumber}  200 revoked (the hook denies it, the revoker revokes its certificates), 404 none
 *   POST   /devices/{serialNumber}/reprovision  {provisioningTokenSha256?}  200 back to REGISTERED, certificates revoked
 *   POST   /devices/{serialNumber}/replace      {newSerialNumber, provisioningTokenSha256?}
 *                                    201 new serial registered with the old one's type and metadata, old one revoked
 * Errors are JSON `{message, errors?}`; invalid requests write nothing.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from "aws-lambda";
import { createDocumentClient } from "../shared/aws";
import { deviceTypeList, loadConfig, optionalString, requiredString } from "../shared/config";
import { createLogger, errorFields } from "../shared/log";
import { describeIssues, preview, serialNumberSchema } from "../shared/registry";
import { REGISTER_DEVICE as C } from "./contract";
import { listDevices, listQueryInput, listQuerySchema } from "./listing";
import { replaceBodySchema, replaceDevice, reprovisionBodySchema, reprovisionDevice } from "./lifecycle";
import { errorResult, getDevice, registerBodySchema, registerDevice, revokeDevice, type ApiResult, type DevicesDeps } from "./devices";

/** Largest accepted request body; a registration is a few hundred bytes. */
export const MAX_BODY_BYTES = 8 * 1024;

const config = loadConfig(() => {
  const allowedDeviceTypes = deviceTypeList(process.env, C.env.allowedDeviceTypes);
  const namePrefix = requiredString(process.env, C.env.namePrefix);
  return {
    tableName: requiredString(process.env, C.env.registryTableName),
    allowedDeviceTypes,
    bodySchema: registerBodySchema(allowedDeviceTypes, namePrefix),
    replaceSchema: replaceBodySchema(namePrefix),
    listSchema: listQuerySchema(allowedDeviceTypes),
  };
});

const logger = createLogger({
  service: "register-device",
  environment: optionalString(process.env, C.env.environment, C.defaults.environment),
});

const ddb = createDocumentClient({ connectionTimeoutMs: 1000, requestTimeoutMs: 3000, maxAttempts: 3 });

export const DEVICE_OPERATIONS = ["reprovision", "replace"] as const;
export type DeviceOperation = (typeof DEVICE_OPERATIONS)[number];

type Route =
  | { name: "collection" }
  | { name: "device"; serialNumber: string }
  | { name: "operation"; serialNumber: string; operation: DeviceOperation }
  | { name: "unknown" };

const isOperation = (value: string | undefined): value is DeviceOperation => (DEVICE_OPERATIONS as readonly string[]).includes(value ?? "");

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** Routes by the API Gateway resource when present, else by the path (the local twin sends only a path). */
export function routeOf(event: Pick<APIGatewayProxyEvent, "resource" | "path" | "pathParameters">): Route {
  if (event.resource === "/devices") return { name: "collection" };
  if (event.resource === "/devices/{serialNumber}") {
    return { name: "device", serialNumber: event.pathParameters?.serialNumber ?? "" };
  }
  const resourceOperation = /^\/devices\/\{serialNumber\}\/([a-z]+)$/.exec(event.resource ?? "")?.[1];
  if (isOperation(resourceOperation)) {
    return { name: "operation", serialNumber: event.pathParameters?.serialNumber ?? "", operation: resourceOperation };
  }
  const path = (event.path ?? "").replace(/\/+$/, "");
  if (path === "/devices") return { name: "collection" };
  const match = /^\/devices\/([^/]+)(?:\/([^/]+))?$/.exec(path);
  if (!match) return { name: "unknown" };
  const serialNumber = decodeSegment(match[1]);
  if (match[2] === undefined) return { name: "device", serialNumber };
  return isOperation(match[2]) ? { name: "operation", serialNumber, operation: match[2] } : { name: "unknown" };
}

const ALLOWED_METHODS: Record<Exclude<Route["name"], "unknown">, string[]> = {
  collection: ["GET", "POST"],
  device: ["GET", "DELETE"],
  operation: ["POST"],
};

async function dispatch(event: APIGatewayProxyEvent): Promise<ApiResult> {
  if (!config.ok) {
    logger.error("configuration invalid", { error: config.error });
    return errorResult(500, "the registration service is misconfigured");
  }
  const { tableName, bodySchema, replaceSchema, listSchema } = config.value;
  const deps: DevicesDeps = { ddb, tableName, now: Date.now };

  const route = routeOf(event);
  if (route.name === "unknown") return errorResult(404, `no route for ${preview(event.path, 100) ?? "(no path)"}`);
  const method = (event.httpMethod ?? "").toUpperCase();
  const allowed = ALLOWED_METHODS[route.name];
  if (!allowed.includes(method)) {
    return errorResult(405, `method ${preview(method, 20) || "(none)"} is not allowed here; use ${allowed.join(" or ")}`, undefined, {
      Allow: allowed.join(", "),
    });
  }

  if (route.name === "collection" && method === "GET") {
    const input = listQueryInput(event.queryStringParameters, event.multiValueQueryStringParameters);
    if (!input.ok) return input.result;
    const parsed = listSchema.safeParse(input.value);
    if (!parsed.success) return errorResult(400, "invalid listing request", describeIssues(parsed.error));
    return listDevices(deps, parsed.data);
  }
  if (route.name === "collection") {
    const body = readJsonBody(event);
    if (!body.ok) return body.result;
    const parsed = bodySchema.safeParse(body.value);
    if (!parsed.success) return errorResult(400, "invalid registration request", describeIssues(parsed.error));
    return registerDevice(deps, parsed.data);
  }

  const serial = serialNumberSchema.safeParse(route.serialNumber);
  if (!serial.success) {
    return errorResult(
      400,
      "invalid serial number in path",
      describeIssues(serial.error).map((e) => ({ ...e, path: "serialNumber" })),
    );
  }
  if (route.name === "operation") {
    if (route.operation === "reprovision") {
      // The body is optional: an empty one keeps the registered token hash.
      const body = event.body ? readJsonBody(event) : ({ ok: true, value: {} } as const);
      if (!body.ok) return body.result;
      const parsed = reprovisionBodySchema.safeParse(body.value);
      if (!parsed.success) return errorResult(400, "invalid re-provisioning request", describeIssues(parsed.error));
      return reprovisionDevice(deps, serial.data, parsed.data);
    }
    const body = readJsonBody(event);
    if (!body.ok) return body.result;
    const parsed = replaceSchema.safeParse(body.value);
    if (!parsed.success) return errorResult(400, "invalid replacement request", describeIssues(parsed.error));
    return replaceDevice(deps, serial.data, parsed.data);
  }
  if (method === "GET") return getDevice(deps, serial.data);
  return revokeDevice(deps, serial.data);
}

type BodyResult = { ok: true; value: unknown } | { ok: false; result: ApiResult };

function readJsonBody(event: Pick<APIGatewayProxyEvent, "body" | "isBase64Encoded">): BodyResult {
  if (event.body === null || event.body === undefined || event.body.length === 0) {
    return { ok: false, result: errorResult(400, "request body is required (JSON)") };
  }
  // Reject before decoding anything large.
  if (event.body.length > MAX_BODY_BYTES * 2) {
    return { ok: false, result: errorResult(413, `request body is larger than ${MAX_BODY_BYTES} bytes`) };
  }
  const text = event.isBase64Encoded ? Buffer.from(event.body, "base64").toString("utf8") : event.body;
  if (Buffer.byteLength(text, "utf8") > MAX_BODY_BYTES) {
    return { ok: false, result: errorResult(413, `request body is larger than ${MAX_BODY_BYTES} bytes`) };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, result: errorResult(400, "request body is not valid JSON") };
  }
}

function toProxyResult(result: ApiResult): APIGatewayProxyResult {
  return {
    statusCode: result.statusCode,
    headers: { "Content-Type": "application/json", "Cache-Control": "no-store", ...result.headers },
    body: JSON.stringify(result.body),
  };
}

export async function handler(event: APIGatewayProxyEvent, context?: Partial<Context>): Promise<APIGatewayProxyResult> {
  const startedAt = Date.now();
  const e = (event ?? {}) as Partial<APIGatewayProxyEvent>;
  let result: ApiResult;
  try {
    result = await dispatch(e as APIGatewayProxyEvent);
  } catch (error) {
    logger.error("request failed", { requestId: context?.awsRequestId, ...errorFields(error) });
    result = errorResult(500, "internal error; the request may be retried", undefined);
  }
  const fields = {
    requestId: context?.awsRequestId,
    method: preview(e.httpMethod, 20),
    path: preview(e.path, 100),
    statusCode: result.statusCode,
    durationMs: Date.now() - startedAt,
    ...(result.statusCode >= 400 ? { error: result.body } : {}),
  };
  if (result.statusCode >= 500) logger.error("request handled", fields);
  else logger.info("request handled", fields);
  return toProxyResult(result);
}
