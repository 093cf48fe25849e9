/**
 * The devices of a building and their newest readings, with no table of its own: the registry says
 * which devices a building has (`metadata.buildingId`, a Scan with a filter: one row per device, a
 * fleet of thousands reads in a few 1 MB pages), the hot store says what each one read last (a Query
 * on the device's partition, newest first, one item). Readings cost one write each and nothing more.
 *
 *   GET /buildings/{buildingId}/devices?limit=&nextToken=   (listBuildingDevices)
 */
import { QueryCommand, ScanCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { describeIssues, serialNumberSchema } from "../shared/registry";
import {
  buildingParam,
  decodeToken,
  definedOnly,
  devicesQuerySchema,
  encodeToken,
  errorResult,
  MAX_DEVICES_PAGE,
  REGISTRY_ROW_PROJECTION,
  type ApiResult,
  type QueryDeps,
} from "./queries";
import { forEachLimited } from "../shared/concurrency";

/** Registry Scan pages (up to 1 MB each) one listing request reads at most: bounds latency and read capacity per call. */
export const MAX_LISTING_SCAN_PAGES = 10;
/** Newest-reading queries in flight at once (one per device; on-demand DynamoDB absorbs this easily). */
export const NEWEST_READING_CONCURRENCY = 10;

export interface RegistryScanDeps {
  ddb: DynamoDBDocumentClient;
  registryTableName: string;
}

export interface BuildingScan {
  /** Registry rows of the building, in scan order (serialNumber, deviceType, status, connected, lastSeen, metadata). */
  rows: Record<string, unknown>[];
  /** The serial number to continue after; undefined when the whole registry was read. */
  next?: string;
}

/**
 * Up to `limit` registry rows whose `metadata.buildingId` is `buildingId`, continuing after `startAfter`,
 * reading at most `maxPages` Scan pages. The answer is cut at the last row it holds, so continuing
 * after `next` skips and repeats nothing even when a page was only partly used.
 */
export async function scanBuildingDevices(
  deps: RegistryScanDeps,
  buildingId: string,
  options: { limit: number; maxPages: number; startAfter?: string; /** Items a Scan page evaluates. @default DynamoDB's 1 MB page */ pageItems?: number },
): Promise<BuildingScan> {
  const rows: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined = options.startAfter === undefined ? undefined : { serialNumber: options.startAfter };
  for (let page = 0; page < options.maxPages; page++) {
    const result = await deps.ddb.send(
      new ScanCommand({
        TableName: deps.registryTableName,
        ExclusiveStartKey: startKey,
        Limit: options.pageItems,
        FilterExpression: "#metadata.#building = :building",
        ProjectionExpression: REGISTRY_ROW_PROJECTION.ProjectionExpression,
        ExpressionAttributeNames: { ...REGISTRY_ROW_PROJECTION.ExpressionAttributeNames, "#building": "buildingId" },
        ExpressionAttributeValues: { ":building": buildingId },
      }),
    );
    const found = result.Items ?? [];
    const room = options.limit - rows.length;
    rows.push(...found.slice(0, room));
    if (found.length > room) return { rows, next: String(rows[rows.length - 1]!.serialNumber) };
    const last = result.LastEvaluatedKey?.serialNumber;
    if (typeof last !== "string") return { rows };
    startKey = result.LastEvaluatedKey;
    if (rows.length === options.limit || page === options.maxPages - 1) return { rows, next: last };
  }
  return { rows };
}

export interface NewestReading {
  ts: unknown;
  deviceTs: unknown;
  metrics: unknown;
}

/** Each device's newest hot-store item (Query newest first, Limit 1), at most `concurrency` queries at once; devices with none are absent. */
export async function newestReadings(
  deps: Pick<QueryDeps, "ddb" | "telemetryTableName">,
  things: readonly string[],
  concurrency = NEWEST_READING_CONCURRENCY,
): Promise<Map<string, NewestReading>> {
  const newest = new Map<string, NewestReading>();
  await forEachLimited(things, concurrency, async (thingName) => {
    const result = await deps.ddb.send(
      new QueryCommand({
        TableName: deps.telemetryTableName,
        KeyConditionExpression: "#thing = :thing",
        ProjectionExpression: "#ts, #deviceTs, #metrics",
        ExpressionAttributeNames: { "#thing": "thingName", "#ts": "ts", "#deviceTs": "deviceTs", "#metrics": "metrics" },
        ExpressionAttributeValues: { ":thing": thingName },
        ScanIndexForward: false,
        Limit: 1,
      }),
    );
    const item = result.Items?.[0];
    if (item) newest.set(thingName, { ts: item.ts, deviceTs: item.deviceTs, metrics: item.metrics ?? {} });
  });
  return newest;
}

/**
 * `GET /buildings/{buildingId}/devices?limit=&nextToken=`: the devices the registry places in the
 * building that have a reading in the hot store, each with registry facts and its newest reading.
 * A page may hold fewer than `limit` devices (devices without readings, a bounded registry read) and
 * still carry a `nextToken`: keep following it until it is absent.
 */
export async function listBuildingDevices(
  deps: QueryDeps,
  callerBuildings: readonly string[],
  rawBuildingId: string | undefined,
  rawQuery: Readonly<Record<string, string | undefined>>,
): Promise<ApiResult> {
  const building = buildingParam(rawBuildingId);
  if ("statusCode" in building) return building;
  const query = devicesQuerySchema.safeParse(definedOnly(rawQuery));
  if (!query.success) return errorResult(400, "invalid query parameters", describeIssues(query.error));

  let startAfter: string | undefined;
  if (query.data.nextToken !== undefined) {
    const thing = serialNumberSchema.safeParse(decodeToken(query.data.nextToken)?.thingName);
    if (!thing.success) return errorResult(400, "invalid query parameters", [{ path: "nextToken", message: "is not a token of this listing" }]);
    startAfter = thing.data;
  }
  if (!callerBuildings.includes(building.buildingId)) return errorResult(403, `you may not read building ${building.buildingId}`);

  const scan = await scanBuildingDevices(deps, building.buildingId, {
    limit: query.data.limit ?? MAX_DEVICES_PAGE,
    maxPages: MAX_LISTING_SCAN_PAGES,
    startAfter,
  });
  const newest = await newestReadings(
    deps,
    scan.rows.map((row) => String(row.serialNumber)),
  );
  const devices = scan.rows
    .filter((row) => newest.has(String(row.serialNumber)))
    .map((row) => ({
      thingName: row.serialNumber,
      deviceType: row.deviceType,
      status: row.status,
      connected: row.connected,
      lastSeen: row.lastSeen,
      latest: newest.get(String(row.serialNumber)),
    }));
  return {
    statusCode: 200,
    body: { buildingId: building.buildingId, devices, nextToken: scan.next === undefined ? undefined : encodeToken({ thingName: scan.next }) },
  };
}
