/**
 * `GET /devices?status=&deviceType=&limit=&nextToken=`: the registry, filtered, one page at a time.
 *
 * A Scan with a filter (the registry is one row per device; fleets of thousands read in a few pages).
 * Pages are cut at the last item returned, so `nextToken` is that item's key and no item is skipped or
 * repeated when a filter leaves a Scan page partly used. A request reads at most a bounded number of
 * Scan pages and may answer fewer than `limit` items with a `nextToken`: keep following it until absent.
 */
import { ScanCommand } from "@aws-sdk/lib-dynamodb";
import * as z from "../shared/schema";
import { DEVICE_STATUSES, deviceTypeSchema, serialNumberSchema, type RegistryItem } from "../shared/registry";
import { errorResult, publicItem, type ApiResult, type DevicesDeps } from "./devices";

export const LIST_DEFAULT_LIMIT = 50;
export const LIST_MAX_LIMIT = 100;
/** Scan pages one request reads at most (bounds latency and read capacity per call). */
const MAX_SCAN_PAGES = 5;
const SCAN_PAGE_ITEMS = 200;

export function listQuerySchema(allowedDeviceTypes: readonly string[]) {
  return z.strictObject({
    status: z.optional(z.enum(DEVICE_STATUSES, { error: `must be one of: ${DEVICE_STATUSES.join(", ")}` })),
    deviceType: z.optional(deviceTypeSchema(allowedDeviceTypes)),
    limit: z._default(
      z.pipe(
        z.coerce.number(),
        z.int({ error: "must be a whole number" }).check(z.gte(1, "must be at least 1"), z.lte(LIST_MAX_LIMIT, `must be at most ${LIST_MAX_LIMIT}`)),
      ),
      LIST_DEFAULT_LIMIT,
    ),
    nextToken: z.optional(
      z.pipe(
        z.string().check(z.maxLength(200, "is not a token this API issued")),
        z.transform((token: string, ctx) => {
          const serial = decodeToken(token);
          if (!serial) {
            ctx.issues.push({ code: "custom", message: "is not a token this API issued", input: token });
            return z.NEVER;
          }
          return serial;
        }),
      ),
    ),
  });
}
export type ListQuery = z.infer<ReturnType<typeof listQuerySchema>>;

export function encodeToken(serialNumber: string): string {
  return Buffer.from(JSON.stringify({ s: serialNumber }), "utf8").toString("base64url");
}

function decodeToken(token: string): string | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as { s?: unknown };
    return serialNumberSchema.safeParse(parsed.s).success ? (parsed.s as string) : undefined;
  } catch {
    return undefined;
  }
}

export async function listDevices(deps: DevicesDeps, query: ListQuery): Promise<ApiResult> {
  const filters: string[] = [];
  const names: Record<string, string> = {};
  const values: Record<string, string> = {};
  if (query.status) {
    filters.push("#status = :status");
    names["#status"] = "status";
    values[":status"] = query.status;
  }
  if (query.deviceType) {
    filters.push("deviceType = :deviceType");
    values[":deviceType"] = query.deviceType;
  }
  const items: RegistryItem[] = [];
  let startKey: Record<string, unknown> | undefined = query.nextToken ? { serialNumber: query.nextToken } : undefined;
  let next: string | undefined;
  for (let page = 0; page < MAX_SCAN_PAGES; page++) {
    const result = await deps.ddb.send(
      new ScanCommand({
        TableName: deps.tableName,
        Limit: SCAN_PAGE_ITEMS,
        ExclusiveStartKey: startKey,
        ...(filters.length > 0 ? { FilterExpression: filters.join(" AND "), ExpressionAttributeValues: values } : {}),
        ...(Object.keys(names).length > 0 ? { ExpressionAttributeNames: names } : {}),
      }),
    );
    const found = (result.Items ?? []) as RegistryItem[];
    const room = query.limit - items.length;
    items.push(...found.slice(0, room));
    if (found.length > room) {
      next = items[items.length - 1].serialNumber;
      break;
    }
    const last = result.LastEvaluatedKey?.serialNumber;
    if (typeof last !== "string") {
      next = undefined;
      break;
    }
    next = last;
    startKey = result.LastEvaluatedKey;
    if (items.length === query.limit) break;
  }
  return { statusCode: 200, body: { devices: items.map(publicItem), ...(next ? { nextToken: encodeToken(next) } : {}) } };
}

/** API Gateway's query string parameters as the schema reads them; a repeated parameter is refused. */
export function listQueryInput(
  single: Record<string, string | undefined> | null | undefined,
  multi: Record<string, string[] | undefined> | null | undefined,
): { ok: true; value: Record<string, string> } | { ok: false; result: ApiResult } {
  const repeated = Object.entries(multi ?? {})
    .filter(([, v]) => (v?.length ?? 0) > 1)
    .map(([k]) => k);
  if (repeated.length > 0) {
    return {
      ok: false,
      result: errorResult(
        400,
        "invalid listing request",
        repeated.map((path) => ({ path, message: "must be given once" })),
      ),
    };
  }
  const value: Record<string, string> = {};
  for (const [k, v] of Object.entries(single ?? {})) if (v !== undefined) value[k] = v;
  return { ok: true, value };
}
