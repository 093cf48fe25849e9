/**
 * Business logic of the dashboard read API: input validation, per-building authorization and the
 * bounded, paginated reads of the hot store (`<prefix>-telemetry`, key thingName + ts). A building's
 * device listing is in building-devices.ts.
 */
import { BatchGetCommand, QueryCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import * as z from "../shared/schema";
import { buildingIdSchema, buildingOfDevice } from "../shared/building-registry";
import { describeIssues, serialNumberSchema } from "../shared/registry";

export interface ApiResult {
  statusCode: number;
  body: unknown;
}

export interface QueryDeps {
  ddb: DynamoDBDocumentClient;
  telemetryTableName: string;
  /** Hourly rollups per device (functions/shared/telemetry-rollup.ts), key thingName + hour, and the rollup job's watermark. */
  rollupTableName: string;
  /** Read hourly rollups (up to the watermark) for 1h/1d aggregates. @default true (false: raw readings only, the compute-on-read path) */
  useRollups?: boolean;
  registryTableName: string;
  /** epoch ms */
  now: () => number;
}

export const DEFAULT_WINDOW_MS = 24 * 3600 * 1000;
export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;
export const MAX_DEVICES_PAGE = 100;
/** Readings are stamped by AWS IoT on arrival, so nothing lies further ahead than clock skew. */
export const MAX_FUTURE_MS = 24 * 3600 * 1000;

export function errorResult(statusCode: number, message: string, errors?: { path: string; message: string }[]): ApiResult {
  return { statusCode, body: errors ? { message, errors } : { message } };
}

/** Epoch milliseconds (digits) or an ISO 8601 date-time with a zone (`2026-11-22T10:00:00Z`). */
export const timeParam = z.pipe(
  z.string().check(z.maxLength(40, "must be at most 40 characters")),
  z.transform((raw: string, ctx) => {
    if (/^\d{1,15}$/.test(raw)) return Number(raw);
    if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(raw)) {
      const ms = Date.parse(raw);
      if (Number.isFinite(ms)) return ms;
    }
    ctx.issues.push({ code: "custom", message: "must be epoch milliseconds or an ISO 8601 date-time with a time zone, e.g. 2026-11-22T10:00:00Z", input: raw });
    return z.NEVER;
  }),
);

const limitParam = (max: number) =>
  z.pipe(
    z.pipe(z.string().check(z.regex(/^\d{1,5}$/, "must be a whole number")), z.transform(Number)),
    z.number().check(z.gte(1, "must be at least 1"), z.lte(max, `must be at most ${max}`)),
  );

export const telemetryQuerySchema = z.strictObject({
  from: z.optional(timeParam),
  to: z.optional(timeParam),
  limit: z.optional(limitParam(MAX_LIMIT)),
  order: z.optional(z.enum(["asc", "desc"], { error: "must be asc or desc" })),
  nextToken: z.optional(z.string().check(z.maxLength(512, "must be at most 512 characters"))),
});

export const devicesQuerySchema = z.strictObject({
  limit: z.optional(limitParam(MAX_DEVICES_PAGE)),
  nextToken: z.optional(z.string().check(z.maxLength(512, "must be at most 512 characters"))),
});

/** Opaque page tokens: base64url JSON of the few key fields a page continues from. */
export function encodeToken(value: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(value), "utf8").toString("base64url");
}

export function decodeToken(token: string): Record<string, unknown> | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The `{buildingId}` path parameter, or the 400 that names it. */
export function buildingParam(raw: string | undefined): { buildingId: string } | ApiResult {
  const building = buildingIdSchema.safeParse(raw ?? "");
  if (building.success) return { buildingId: building.data };
  return errorResult(
    400,
    "invalid building id in path",
    describeIssues(building.error).map((e) => ({ ...e, path: "buildingId" })),
  );
}

/** The registry facts a listing shows, every name through a placeholder: several (e.g. status) are DynamoDB reserved words. */
export const REGISTRY_ROW_PROJECTION = {
  ProjectionExpression: "#serial, #type, #status, #connected, #lastSeen, #metadata",
  ExpressionAttributeNames: {
    "#serial": "serialNumber",
    "#type": "deviceType",
    "#status": "status",
    "#connected": "connected",
    "#lastSeen": "lastSeen",
    "#metadata": "metadata",
  },
} as const;

const notAllowed = (thingName: string) => errorResult(403, `you may not read device ${thingName}: it is not in one of your buildings`);

/** The path's thing name, or the 400 that names it. */
export function thingNameParam(raw: string | undefined): { thingName: string } | ApiResult {
  const thing = serialNumberSchema.safeParse(raw ?? "");
  if (thing.success) return { thingName: thing.data };
  return errorResult(
    400,
    "invalid thing name in path",
    describeIssues(thing.error).map((e) => ({ ...e, path: "thingName" })),
  );
}

/** [from, to] from the optional query values (default: the day before now), or the 400 that names the bad end. */
export function timeWindow(now: number, from: number | undefined, to: number | undefined): { from: number; to: number } | ApiResult {
  const end = to ?? now;
  const start = from ?? end - DEFAULT_WINDOW_MS;
  if (start > end) return errorResult(400, "invalid query parameters", [{ path: "from", message: "must not be after to" }]);
  if (end > now + MAX_FUTURE_MS) return errorResult(400, "invalid query parameters", [{ path: "to", message: "must not be more than a day in the future" }]);
  return { from: start, to: end };
}

/** The device's building when it is one of the caller's; otherwise the 403 that unknown devices get too. */
export async function authorizedBuildingOf(
  deps: QueryDeps,
  callerBuildings: readonly string[],
  thingName: string,
): Promise<{ buildingId: string } | ApiResult> {
  if (callerBuildings.length === 0) return notAllowed(thingName);
  const building = await buildingOfDevice(deps.ddb, deps.registryTableName, thingName);
  if (!building || !callerBuildings.includes(building)) return notAllowed(thingName);
  return { buildingId: building };
}

/**
 * `GET /devices/{thingName}/telemetry?from=&to=&limit=&order=&nextToken=`: readings of one device in
 * [from, to] (default: the last 24 hours), at most `limit` (default 100, max 1000) per page.
 * Unknown devices and devices of other buildings both answer 403, so the API reveals nothing about
 * serial numbers outside the caller's buildings.
 */
export async function readDeviceTelemetry(
  deps: QueryDeps,
  callerBuildings: readonly string[],
  rawThingName: string | undefined,
  rawQuery: Readonly<Record<string, string | undefined>>,
): Promise<ApiResult> {
  const thing = thingNameParam(rawThingName);
  if ("statusCode" in thing) return thing;
  const query = telemetryQuerySchema.safeParse(definedOnly(rawQuery));
  if (!query.success) return errorResult(400, "invalid query parameters", describeIssues(query.error));
  const window = timeWindow(deps.now(), query.data.from, query.data.to);
  if ("statusCode" in window) return window;
  const { from, to } = window;
  const limit = query.data.limit ?? DEFAULT_LIMIT;
  const ascending = (query.data.order ?? "asc") === "asc";

  let startTs: number | undefined;
  if (query.data.nextToken !== undefined) {
    const token = decodeToken(query.data.nextToken);
    const ts = token?.ts;
    if (typeof ts !== "number" || !Number.isInteger(ts) || ts < from || ts > to) {
      return errorResult(400, "invalid query parameters", [{ path: "nextToken", message: "does not continue this query; repeat the same from, to and order" }]);
    }
    startTs = ts;
  }

  const allowed = await authorizedBuildingOf(deps, callerBuildings, thing.thingName);
  if ("statusCode" in allowed) return allowed;
  const building = allowed.buildingId;

  const result = await deps.ddb.send(
    new QueryCommand({
      TableName: deps.telemetryTableName,
      KeyConditionExpression: "#thing = :thing AND #ts BETWEEN :from AND :to",
      ProjectionExpression: "#ts, #deviceTs, #metrics",
      ExpressionAttributeNames: { "#thing": "thingName", "#ts": "ts", "#deviceTs": "deviceTs", "#metrics": "metrics" },
      ExpressionAttributeValues: { ":thing": thing.thingName, ":from": from, ":to": to },
      ScanIndexForward: ascending,
      Limit: limit,
      ExclusiveStartKey: startTs === undefined ? undefined : { thingName: thing.thingName, ts: startTs },
    }),
  );
  const last = result.LastEvaluatedKey;
  return {
    statusCode: 200,
    body: {
      thingName: thing.thingName,
      buildingId: building,
      from,
      to,
      order: ascending ? "asc" : "desc",
      items: (result.Items ?? []).map((item) => ({ ts: item.ts, deviceTs: item.deviceTs, metrics: item.metrics ?? {} })),
      nextToken: last && typeof last.ts === "number" ? encodeToken({ ts: last.ts }) : undefined,
    },
  };
}

/** Registry rows by serial number (BatchGetItem, unprocessed keys retried a few times). */
export async function registryRows(deps: QueryDeps, serials: readonly string[]): Promise<Map<string, Record<string, unknown>>> {
  const rows = new Map<string, Record<string, unknown>>();
  let keys: Record<string, unknown>[] = [...new Set(serials)].map((serialNumber) => ({ serialNumber }));
  for (let attempt = 0; keys.length > 0; attempt++) {
    if (attempt >= 4) throw new Error(`registry BatchGetItem left ${keys.length} key(s) unprocessed`);
    const result = await deps.ddb.send(
      new BatchGetCommand({
        RequestItems: {
          [deps.registryTableName]: {
            Keys: keys,
            ...REGISTRY_ROW_PROJECTION,
          },
        },
      }),
    );
    for (const item of result.Responses?.[deps.registryTableName] ?? []) rows.set(String(item.serialNumber), item);
    keys = (result.UnprocessedKeys?.[deps.registryTableName]?.Keys as Record<string, unknown>[] | undefined) ?? [];
  }
  return rows;
}

export function definedOnly(query: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(query)) if (value !== undefined) out[key] = value;
  return out;
}
