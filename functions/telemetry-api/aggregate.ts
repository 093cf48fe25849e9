/**
 * Aggregates of the hot store per interval (scripts/bench-telemetry.ts measures them): hourly and daily
 * ones from the hourly rollups of the rollup job (functions/telemetry-rollup) up to its watermark and from
 * raw readings after it, 5- and 15-minute ones computed on read:
 *   GET /devices/{thingName}/telemetry/aggregate    one device
 *   GET /buildings/{buildingId}/telemetry/aggregate every device the registry places in the building
 * Query: `from`, `to` (default: the last 24 hours), `interval` 5m|15m|1h|1d (default 1h),
 * `metrics` (comma list; default every metric seen), `stats` (comma list of avg,min,max,count; default all).
 * Intervals start at multiples of the interval since the epoch (UTC: days start at midnight UTC); every
 * interval of the range is in the answer, with `metrics: {}` when nothing was read in it. Numbers get
 * the chosen stats; booleans get `count` and `trueShare` (share of `true`, 0..1).
 */
import * as z from "../shared/schema";
import { buildingOfItem } from "../shared/buildings";
import { describeIssues } from "../shared/registry";
import { readWatermark } from "../shared/rollup-watermark";
import { HOUR_MS, decodeRollupMetrics } from "../shared/telemetry-rollup";
import { scanBuildingDevices } from "./building-devices";
import { Aggregator, INTERVALS, STATS, pointCount, type IntervalName, type Range } from "./aggregator";
import { queryItems } from "../shared/paged-items";
import {
  authorizedBuildingOf,
  buildingParam,
  definedOnly,
  errorResult,
  registryRows,
  thingNameParam,
  timeParam,
  timeWindow,
  type ApiResult,
  type QueryDeps,
} from "./queries";

/** Points (intervals) per answer: 7 days at 15 minutes, or 28 days hourly. */
export const MAX_POINTS = 672;
/** Metrics per request, and devices a building aggregate reads. */
export const MAX_METRICS = 20;
export const MAX_BUILDING_DEVICES = 200;
/** Device queries a building aggregate runs at once (DynamoDB on-demand absorbs this easily). */
const DEVICE_CONCURRENCY = 10;
/** Registry Scan pages (1 MB each) a building aggregate reads at most to find the building's devices. */
const MAX_AGGREGATE_SCAN_PAGES = 20;
const METRIC_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

const commaList = <T extends string>(item: z.ZodMiniType<T, string>, max: number) =>
  z.pipe(
    z.pipe(
      z.string().check(z.maxLength(1000, "must be at most 1000 characters")),
      z.transform((raw: string) =>
        raw
          .split(",")
          .map((s) => s.trim())
          .filter((s) => s.length > 0),
      ),
    ),
    z.array(item).check(z.minLength(1, "must name at least one"), z.maxLength(max, `must name at most ${max}`)),
  );

export const aggregateQuerySchema = z.strictObject({
  from: z.optional(timeParam),
  to: z.optional(timeParam),
  interval: z.optional(z.enum(Object.keys(INTERVALS) as [IntervalName, ...IntervalName[]], { error: "must be one of 5m, 15m, 1h, 1d" })),
  metrics: z.optional(commaList(z.string().check(z.regex(METRIC_NAME, "each metric must be a name like co2_ppm")), MAX_METRICS)),
  stats: z.optional(commaList(z.enum(STATS, { error: "each stat must be one of avg, min, max, count" }), STATS.length)),
});

/** Parses and checks the query; a 400 naming the bad parameter, or the range to aggregate. */
function parseRange(deps: QueryDeps, rawQuery: Readonly<Record<string, string | undefined>>): ApiResult | Range {
  const query = aggregateQuerySchema.safeParse(definedOnly(rawQuery));
  // Name the parameter (`stats`), not the list item (`stats.1`).
  if (!query.success)
    return errorResult(
      400,
      "invalid query parameters",
      describeIssues(query.error).map((e) => ({ ...e, path: e.path.split(".")[0]! })),
    );
  const window = timeWindow(deps.now(), query.data.from, query.data.to);
  if ("statusCode" in window) return window;
  const { from, to } = window;
  const interval = query.data.interval ?? "1h";
  const points = pointCount({ from, to, interval });
  if (points > MAX_POINTS)
    return errorResult(400, "invalid query parameters", [
      { path: "interval", message: `gives ${points} points for this range, more than ${MAX_POINTS}: choose a longer interval or a shorter range` },
    ]);
  return { from, to, interval, metrics: query.data.metrics, stats: query.data.stats ?? STATS };
}

/** Hourly and daily intervals read rollups when there are any: the job's watermark, or undefined (then all raw). */
async function rolledUntil(deps: QueryDeps, range: Range): Promise<number | undefined> {
  if (deps.useRollups === false || (range.interval !== "1h" && range.interval !== "1d")) return undefined;
  return readWatermark(deps.ddb, deps.rollupTableName);
}

/**
 * One device's share of the answer. The whole hours of [from, to] that ended at or before the rollup
 * job's watermark come from its hourly rollup items (a day sums its hour items); the partial hours at
 * either end and every hour after the watermark come from raw readings. No watermark: all raw.
 */
async function deviceInto(deps: QueryDeps, thingName: string, range: Range, watermark: number | undefined, agg: Aggregator): Promise<void> {
  if (watermark === undefined) return readInto(deps, thingName, range.from, range.to, agg);
  const wholeFrom = Math.ceil(range.from / HOUR_MS) * HOUR_MS;
  const wholeTo = Math.min(Math.floor((range.to + 1) / HOUR_MS) * HOUR_MS, watermark); // exclusive
  if (wholeFrom >= wholeTo) return readInto(deps, thingName, range.from, range.to, agg);
  const parts = [readRollupsInto(deps, thingName, wholeFrom, wholeTo - HOUR_MS, agg)];
  if (range.from < wholeFrom) parts.push(readInto(deps, thingName, range.from, wholeFrom - 1, agg));
  if (wholeTo <= range.to) parts.push(readInto(deps, thingName, wholeTo, range.to, agg));
  await Promise.all(parts);
}

/** The device's hourly rollup items of hours firstHour..lastHour (their starts), into the aggregator. */
async function readRollupsInto(deps: QueryDeps, thingName: string, firstHour: number, lastHour: number, agg: Aggregator): Promise<void> {
  const items = queryItems(deps.ddb, {
    TableName: deps.rollupTableName,
    KeyConditionExpression: "#thing = :thing AND #hour BETWEEN :first AND :last",
    ProjectionExpression: "#hour, #metrics",
    ExpressionAttributeNames: { "#thing": "thingName", "#hour": "hour", "#metrics": "metrics" },
    ExpressionAttributeValues: { ":thing": thingName, ":first": firstHour, ":last": lastHour },
  });
  for await (const item of items) agg.addRollup(Number(item.hour), decodeRollupMetrics(item.metrics));
}

/** Every reading of one device in [from, to], into the aggregator. */
async function readInto(deps: QueryDeps, thingName: string, from: number, to: number, agg: Aggregator): Promise<void> {
  const items = queryItems(deps.ddb, {
    TableName: deps.telemetryTableName,
    KeyConditionExpression: "#thing = :thing AND #ts BETWEEN :from AND :to",
    ProjectionExpression: "#ts, #metrics",
    ExpressionAttributeNames: { "#thing": "thingName", "#ts": "ts", "#metrics": "metrics" },
    ExpressionAttributeValues: { ":thing": thingName, ":from": from, ":to": to },
  });
  for await (const item of items) agg.add(Number(item.ts), item.metrics as Record<string, unknown> | undefined);
}

function answer(range: Range, agg: Aggregator, extra: Record<string, unknown>): ApiResult {
  const { points, seen, mismatched } = agg.result();
  return {
    statusCode: 200,
    body: {
      ...extra,
      from: range.from,
      to: range.to,
      interval: range.interval,
      intervalMs: INTERVALS[range.interval],
      stats: range.stats,
      metrics: range.metrics ?? seen,
      points,
      ...(mismatched > 0 ? { skippedReadings: mismatched } : {}),
    },
  };
}

/** `GET /devices/{thingName}/telemetry/aggregate`: unknown devices and other buildings' devices both answer 403. */
export async function aggregateDeviceTelemetry(
  deps: QueryDeps,
  callerBuildings: readonly string[],
  rawThingName: string | undefined,
  rawQuery: Readonly<Record<string, string | undefined>>,
): Promise<ApiResult> {
  const thing = thingNameParam(rawThingName);
  if ("statusCode" in thing) return thing;
  const range = parseRange(deps, rawQuery);
  if ("statusCode" in range) return range;
  const allowed = await authorizedBuildingOf(deps, callerBuildings, thing.thingName);
  if ("statusCode" in allowed) return allowed;
  const agg = new Aggregator(range);
  await deviceInto(deps, thing.thingName, range, await rolledUntil(deps, range), agg);
  return answer(range, agg, { thingName: thing.thingName, buildingId: allowed.buildingId });
}

/**
 * `GET /buildings/{buildingId}/telemetry/aggregate`: one series over every device of the building
 * (the devices whose registry row names the building).
 */
export async function aggregateBuildingTelemetry(
  deps: QueryDeps,
  callerBuildings: readonly string[],
  rawBuildingId: string | undefined,
  rawQuery: Readonly<Record<string, string | undefined>>,
): Promise<ApiResult> {
  const building = buildingParam(rawBuildingId);
  if ("statusCode" in building) return building;
  const range = parseRange(deps, rawQuery);
  if ("statusCode" in range) return range;
  if (!callerBuildings.includes(building.buildingId)) return errorResult(403, `you may not read building ${building.buildingId}`);

  const { things: listed, truncated } = await buildingDevices(deps, building.buildingId);
  const registry = await registryRows(deps, listed);
  const devices = listed.filter((thing) => buildingOfItem(registry.get(thing)) === building.buildingId);
  const agg = new Aggregator(range);
  const watermark = await rolledUntil(deps, range);
  for (let i = 0; i < devices.length; i += DEVICE_CONCURRENCY) {
    await Promise.all(devices.slice(i, i + DEVICE_CONCURRENCY).map((thing) => deviceInto(deps, thing, range, watermark, agg)));
  }
  return answer(range, agg, { buildingId: building.buildingId, deviceCount: devices.length, ...(truncated ? { devicesTruncated: true } : {}) });
}

/** Thing names the registry places in a building: at most MAX_BUILDING_DEVICES, `truncated` when there are more or the registry read hit its bound. */
async function buildingDevices(deps: QueryDeps, buildingId: string): Promise<{ things: string[]; truncated: boolean }> {
  const scan = await scanBuildingDevices(deps, buildingId, { limit: MAX_BUILDING_DEVICES + 1, maxPages: MAX_AGGREGATE_SCAN_PAGES });
  const things = scan.rows.map((row) => String(row.serialNumber));
  return { things: things.slice(0, MAX_BUILDING_DEVICES), truncated: things.length > MAX_BUILDING_DEVICES || scan.next !== undefined };
}
