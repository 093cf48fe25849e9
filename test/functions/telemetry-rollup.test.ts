/**
 * Hourly rollups kept at ingest (functions/telemetry-broadcast/rollup.ts) against the compute-on-read
 * path: the same readings, written to the hot store and fed to the real rollup writer in shuffled
 * order, must give the same aggregates. Then the hostile cases: replays, late readings, races.
 */
import { DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import { aggregateBuildingTelemetry, aggregateDeviceTelemetry } from "../../functions/telemetry-api/aggregate";
import type { ApiResult, QueryDeps } from "../../functions/telemetry-api/queries";
import { rollUpReading, type RollupDeps } from "../../functions/telemetry-broadcast/rollup";
import { startDynalite, type RunningDynalite } from "../support/dynalite";
import { putAll, seedReadings, type Metrics } from "../support/telemetry-seed";
import { putItem, registeredDevice, uniqueSerial } from "./helpers";
import { TELEMETRY_TABLES, createTelemetryTables } from "./telemetry-helpers";

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const STEP = 10 * 60_000;
const DEVICES = 20;
const READINGS = 144;
/** Every device is silent in hour 5; device 3 also in hours 10..12. */
const silent = (d: number, k: number) => Math.floor(k / 6) === 5 || (d === 3 && k >= 60 && k < 78);
/** Decimals (sums that round), negatives, booleans, and a metric some devices lack. */
const metricsOf = (d: number, k: number): Metrics | undefined =>
  silent(d, k)
    ? undefined
    : {
        co2_ppm: 400 + 7 * d + ((k * 13) % 50),
        temperature_c: 19.3 + ((k * 7 + d) % 23) / 10,
        outdoor_c: -5.1 + ((k + d) % 9) * 0.7,
        occupancy: (k + d) % 3 === 0,
        ...(d % 4 === 0 ? { humidity_pct: 40 + (k % 11) } : {}),
      };

let db: RunningDynalite;
let ddb: DynamoDBDocumentClient;
const day0 = Math.floor((Date.now() - 3 * DAY) / DAY) * DAY;
const building = `ru${Date.now().toString(36)}`;
const things = Array.from({ length: DEVICES }, () => uniqueSerial("RU"));
const groups = [building];

const queryDeps = (useRollups: boolean): QueryDeps => ({
  ddb,
  telemetryTableName: TELEMETRY_TABLES.telemetry,
  rollupTableName: TELEMETRY_TABLES.rollup,
  registryTableName: db.registryTableName,
  now: () => day0 + 3 * DAY,
  useRollups,
});
const writer = (): RollupDeps => ({ ddb, rollupTableName: TELEMETRY_TABLES.rollup, ttlSeconds: 90 * 86400 });

/** A reading into both stores: the hot store (as the store rule writes it) and the rollup (as the broadcaster does). */
async function ingest(thingName: string, ts: number, metrics: Metrics) {
  await putAll(db.client, TELEMETRY_TABLES.telemetry, [{ thingName, ts, metrics, expiresAt: Math.floor(ts / 1000) + 90 * 86400 }]);
  return rollUpReading(writer(), { thingName, ts, metrics });
}

async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

/** Averages compared to 12 significant digits: a sum of hourly sums rounds differently from one long sum. */
function comparable(result: ApiResult): unknown {
  expect(result.statusCode).toBe(200);
  return JSON.parse(JSON.stringify(result.body), (key, value: unknown) => (key === "avg" && typeof value === "number" ? Number(value.toPrecision(12)) : value));
}

async function bothPaths(run: (deps: QueryDeps) => Promise<ApiResult>) {
  const [raw, rolled] = await Promise.all([run(queryDeps(false)), run(queryDeps(true))]);
  return {
    raw: comparable(raw),
    rolled: comparable(rolled),
    body: raw.body as { points: { start: number; metrics: Record<string, Record<string, number>> }[] },
  };
}

beforeAll(async () => {
  db = await startDynalite();
  ddb = DynamoDBDocumentClient.from(db.client);
  await createTelemetryTables(db.client);
  for (const thing of things)
    await putItem(db.client, db.registryTableName, registeredDevice(thing, { status: "PROVISIONED", metadata: { buildingId: building } }));
  await seedReadings(db.client, { telemetryTable: TELEMETRY_TABLES.telemetry, things, start: day0, stepMs: STEP, count: READINGS, metrics: metricsOf });
  // The same readings through the real rollup writer, shuffled (out of order across hours and devices), 8 at a time.
  const readings = things.flatMap((thingName, d) =>
    Array.from({ length: READINGS }, (_, k) => ({ thingName, ts: day0 + k * STEP, metrics: metricsOf(d, k) })).filter((r) => r.metrics),
  );
  let seed = 17;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = readings.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [readings[i], readings[j]] = [readings[j]!, readings[i]!];
  }
  const outcomes: string[] = [];
  await inParallel(readings, 8, async (r) => outcomes.push(await rollUpReading(writer(), r)));
  expect(outcomes.filter((o) => o !== "counted")).toEqual([]);
}, 120_000);

afterAll(async () => {
  await db?.stop();
});

describe("rollups give the compute-on-read answer", () => {
  test("building, hourly over 24 hours: same points, empty hour 5 present and empty, booleans as trueShare", async () => {
    const { raw, rolled, body } = await bothPaths((deps) =>
      aggregateBuildingTelemetry(deps, groups, building, { from: String(day0), to: String(day0 + DAY - 1), interval: "1h" }),
    );
    expect(rolled).toEqual(raw);
    expect(body.points).toHaveLength(24);
    expect(body.points[5]!.metrics).toEqual({});
    expect(body.points[0]!.metrics.co2_ppm!.count).toBe(DEVICES * 6);
    expect(body.points[10]!.metrics.co2_ppm!.count).toBe((DEVICES - 1) * 6);
    expect(body.points[0]!.metrics.occupancy).toEqual({ count: DEVICES * 6, trueShare: expect.any(Number) });
  });

  test("building, daily over three days: a day sums its 24 hourly items; days without readings are empty", async () => {
    const { raw, rolled, body } = await bothPaths((deps) =>
      aggregateBuildingTelemetry(deps, groups, building, { from: String(day0), to: String(day0 + 3 * DAY - 1), interval: "1d", stats: "avg,min,max,count" }),
    );
    expect(rolled).toEqual(raw);
    expect(body.points.map((p) => Object.keys(p.metrics).length)).toEqual([5, 0, 0]);
    expect(body.points[0]!.metrics.outdoor_c!.min).toBeCloseTo(-5.1, 10);
  });

  test("device, hourly over a range that starts and ends mid-hour: the partial hours come from raw readings", async () => {
    for (const d of [0, 3, 7]) {
      const query = { from: String(day0 + 17 * 60_000), to: String(day0 + 12 * HOUR + 3 * 60_000), interval: "1h", metrics: "co2_ppm,occupancy,humidity_pct" };
      const { raw, rolled, body } = await bothPaths((deps) => aggregateDeviceTelemetry(deps, groups, things[d], query));
      expect(rolled).toEqual(raw);
      // Hour 0 from 00:17: readings at :20, :30, :40, :50. Hour 12 up to 12:03: the reading at 12:00 (none for device 3).
      expect(body.points[0]!.metrics.co2_ppm!.count).toBe(4);
      expect(body.points[12]!.metrics.co2_ppm?.count).toBe(d === 3 ? undefined : 1);
    }
  });

  test("a range inside one hour reads raw readings only", async () => {
    const { raw, rolled } = await bothPaths((deps) =>
      aggregateDeviceTelemetry(deps, groups, things[1], { from: String(day0 + 2 * HOUR + 60_000), to: String(day0 + 2 * HOUR + 40 * 60_000), interval: "1h" }),
    );
    expect(rolled).toEqual(raw);
  });
});

describe("rollups under hostile delivery", () => {
  test("a replayed event (Lambda retrying the same invocation) is counted once, even when the copies race", async () => {
    const thing = things[2]!;
    const ts = day0 + 7 * STEP; // hour 1, already counted by the seed
    const before = await ddb.send(new GetCommand({ TableName: TELEMETRY_TABLES.rollup, Key: { thingName: thing, hour: day0 + HOUR } }));
    const copies = await Promise.all(Array.from({ length: 5 }, () => rollUpReading(writer(), { thingName: thing, ts, metrics: metricsOf(2, 7) })));
    expect(copies).toEqual(Array(5).fill("duplicate"));
    const after = await ddb.send(new GetCommand({ TableName: TELEMETRY_TABLES.rollup, Key: { thingName: thing, hour: day0 + HOUR } }));
    expect(after.Item).toEqual(before.Item);
  });

  test("a new reading sent five times at once is counted exactly once (the version condition settles the race)", async () => {
    const thing = things[4]!;
    const ts = day0 + 20 * HOUR + 5 * 60_000 + 1; // between the seeded readings
    await putAll(db.client, TELEMETRY_TABLES.telemetry, [{ thingName: thing, ts, metrics: { co2_ppm: 9999, occupancy: true } }]);
    const copies = await Promise.all(
      Array.from({ length: 5 }, () => rollUpReading(writer(), { thingName: thing, ts, metrics: { co2_ppm: 9999, occupancy: true } })),
    );
    expect(copies.filter((c) => c === "counted")).toHaveLength(1);
    expect(copies.filter((c) => c === "duplicate")).toHaveLength(4);
    const { raw, rolled, body } = await bothPaths((deps) =>
      aggregateDeviceTelemetry(deps, groups, thing, { from: String(day0 + 20 * HOUR), to: String(day0 + 21 * HOUR - 1), interval: "1h" }),
    );
    expect(rolled).toEqual(raw);
    expect(body.points[0]!.metrics.co2_ppm).toMatchObject({ count: 7, max: 9999 });
  });

  test("a late reading lands in its own hour, and a new minimum or maximum arriving late still wins", async () => {
    const thing = things[5]!;
    // Hour 2 already counted; a reading from its past arrives a day late, below every minimum and above every maximum.
    expect(await ingest(thing, day0 + 2 * HOUR + 1, { co2_ppm: -40, temperature_c: 99.5 })).toBe("counted");
    expect(await ingest(thing, day0 + 2 * HOUR + 2, { co2_ppm: 5000 })).toBe("counted");
    const { raw, rolled, body } = await bothPaths((deps) =>
      aggregateDeviceTelemetry(deps, groups, thing, { from: String(day0), to: String(day0 + DAY - 1), interval: "1h" }),
    );
    expect(rolled).toEqual(raw);
    expect(body.points[2]!.metrics.co2_ppm).toMatchObject({ count: 8, min: -40, max: 5000 });
    expect(body.points[2]!.metrics.temperature_c!.max).toBe(99.5);
  });

  test("a metric sent as a number and as a boolean in one hour: the earliest reading's kind, the others skipped, on both paths", async () => {
    const thing = things[6]!;
    const hour = day0 + 22 * HOUR;
    // Arriving out of order: the boolean is earlier in time than the numbers that arrived before it.
    expect(await ingest(thing, hour + 50 * 60_000 + 1, { door: 1 })).toBe("counted");
    expect(await ingest(thing, hour + 40 * 60_000 + 1, { door: 0 })).toBe("counted");
    expect(await ingest(thing, hour + 30 * 60_000 + 1, { door: true })).toBe("counted");
    const { raw, rolled, body } = await bothPaths((deps) =>
      aggregateDeviceTelemetry(deps, groups, thing, { from: String(hour), to: String(hour + HOUR - 1), interval: "1h", metrics: "door" }),
    );
    expect(rolled).toEqual(raw);
    expect(body.points[0]!.metrics.door).toEqual({ count: 1, trueShare: 1 });
    expect((raw as { skippedReadings: number }).skippedReadings).toBe(2);
  });

  test("readings without a number or boolean write no rollup item", async () => {
    const thing = uniqueSerial("RUE");
    expect(await rollUpReading(writer(), { thingName: thing, ts: day0 + 1000, metrics: { firmware: "1.2.3", nested: { a: 1 }, nan: Number.NaN } })).toBe(
      "no-metrics",
    );
    expect(await rollUpReading(writer(), { thingName: thing, ts: day0 + 2000 })).toBe("no-metrics");
    const item = await ddb.send(new GetCommand({ TableName: TELEMETRY_TABLES.rollup, Key: { thingName: thing, hour: day0 } }));
    expect(item.Item).toBeUndefined();
  });

  test("a rollup item expires with the hot store: its hour's end plus the retention", async () => {
    const item = await ddb.send(new GetCommand({ TableName: TELEMETRY_TABLES.rollup, Key: { thingName: things[0], hour: day0 } }));
    expect(item.Item).toMatchObject({ expiresAt: Math.floor((day0 + HOUR) / 1000) + 90 * 86400, version: 6 });
    expect(item.Item!.seen).toEqual(new Set(Array.from({ length: 6 }, (_, k) => day0 + k * STEP)));
  });

  test("fails when the table cannot be written: the error reaches the caller so Lambda retries the reading", async () => {
    const broken = { ...writer(), rollupTableName: "no-such-table" };
    await expect(rollUpReading(broken, { thingName: things[0]!, ts: day0 + 5, metrics: { co2_ppm: 1 } })).rejects.toThrow(/non-existent table|not found/i);
  });
});
