/**
 * Hourly rollups written by the rollup job (functions/telemetry-rollup/job.ts) against the compute-on-read
 * path: the same readings in the hot store, rolled by the real job, must give the same answers (both
 * paths give the same answers), whole hours up to the watermark from rollups and the rest raw.
 * The job's hostile cases (deadline, overlapping runs, late writes, removed devices) are in
 * telemetry-rollup-job.test.ts.
 */
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { WATERMARK_KEY, readWatermark } from "../../functions/shared/rollup-watermark";
import { aggregateBuildingTelemetry, aggregateDeviceTelemetry } from "../../functions/telemetry-api/aggregate";
import type { ApiResult, QueryDeps } from "../../functions/telemetry-api/queries";
import { rollUpCompletedHours, rollUpDeviceHour, type RollupJobDeps } from "../../functions/telemetry-rollup/job";
import { startDynalite, type RunningDynalite } from "../support/dynalite";
import { seedReadings, type Metrics } from "../support/telemetry-seed";
import { putItem, registeredDevice, uniqueSerial } from "./helpers";
import { TELEMETRY_TABLES, createTelemetryTables } from "./telemetry-helpers";
import { DAY, HOUR, allItems } from "./telemetry-rollup-helpers";

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
/** The job runs 10 minutes after day0 + 3 days began; it first rolls back to day0 (its retention reaches there). */
const runAt = day0 + 3 * DAY + 10 * 60_000;
const building = `ru${Date.now().toString(36)}`;
const things = Array.from({ length: DEVICES }, () => uniqueSerial("RU"));
const groups = [building];

const queryDeps = (useRollups: boolean): QueryDeps => ({
  ddb,
  telemetryTableName: TELEMETRY_TABLES.telemetry,
  rollupTableName: TELEMETRY_TABLES.rollup,
  registryTableName: db.registryTableName,
  now: () => runAt,
  useRollups,
});
/** A retention of 3 days and an hour: with no watermark, the first run starts at day0. */
const jobDeps = (): RollupJobDeps => ({
  ddb,
  registryTableName: db.registryTableName,
  telemetryTableName: TELEMETRY_TABLES.telemetry,
  rollupTableName: TELEMETRY_TABLES.rollup,
  ttlSeconds: 3 * 86400 + 3600,
  maxHoursPerRun: 48,
  now: () => runAt,
  stopAt: Number.MAX_SAFE_INTEGER,
  concurrency: 8,
  pageSize: 4,
});

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

const firstRuns: Awaited<ReturnType<typeof rollUpCompletedHours>>[] = [];

beforeAll(async () => {
  db = await startDynalite();
  ddb = DynamoDBDocumentClient.from(db.client);
  await createTelemetryTables(db.client);
  for (const thing of things)
    await putItem(db.client, db.registryTableName, registeredDevice(thing, { status: "PROVISIONED", metadata: { buildingId: building } }));
  await seedReadings(db.client, { telemetryTable: TELEMETRY_TABLES.telemetry, things, start: day0, stepMs: STEP, count: READINGS, metrics: metricsOf });
  // 72 completed hours, 48 per run: a backlog takes two runs.
  firstRuns.push(await rollUpCompletedHours(jobDeps()));
  firstRuns.push(await rollUpCompletedHours(jobDeps()));
}, 180_000);

afterAll(async () => {
  await db?.stop();
});

describe("the job rolls the completed hours", () => {
  test("a first run starts at the oldest hour the hot store holds, 48 hours per run, then the rest, then nothing", async () => {
    expect(firstRuns[0]).toMatchObject({ status: "behind", watermarkBefore: undefined, watermark: day0 + 48 * HOUR, hoursRolled: 48, devices: DEVICES });
    expect(firstRuns[1]).toMatchObject({ status: "done", watermarkBefore: day0 + 48 * HOUR, watermark: day0 + 72 * HOUR, hoursRolled: 24 });
    expect(firstRuns[0]!.readingsRead + firstRuns[1]!.readingsRead).toBe(DEVICES * READINGS - (DEVICES * 6 + 18));
    expect(await rollUpCompletedHours(jobDeps())).toMatchObject({ status: "up-to-date", hoursRolled: 0, watermark: day0 + 72 * HOUR });
    expect(await readWatermark(ddb, TELEMETRY_TABLES.rollup)).toBe(day0 + 72 * HOUR);
  });

  test("ONE item per device-hour with readings, none for silent device-hours, expiring with the hot store", async () => {
    const items = (await allItems(ddb, TELEMETRY_TABLES.rollup)).filter((i) => i.thingName !== WATERMARK_KEY.thingName);
    // 24 hours of readings; hour 5 silent for all, hours 10..12 for device 3.
    expect(items).toHaveLength(DEVICES * 23 - 3);
    expect(items.some((i) => i.hour === day0 + 5 * HOUR)).toBe(false);
    const first = items.find((i) => i.thingName === things[0] && i.hour === day0)!;
    expect(first).toEqual({
      thingName: things[0],
      hour: day0,
      metrics: expect.any(String),
      readings: 6,
      expiresAt: Math.floor((day0 + HOUR) / 1000) + 3 * 86400 + 3600,
    });
  });

  test("a re-run of rolled hours (the watermark deleted) rewrites exactly the same items", async () => {
    const before = await allItems(ddb, TELEMETRY_TABLES.rollup);
    await ddb.send(new DeleteCommand({ TableName: TELEMETRY_TABLES.rollup, Key: WATERMARK_KEY }));
    await rollUpCompletedHours(jobDeps());
    await rollUpCompletedHours(jobDeps());
    const after = await allItems(ddb, TELEMETRY_TABLES.rollup);
    const strip = (items: Record<string, unknown>[]) => items.map((i) => (i.thingName === WATERMARK_KEY.thingName ? { ...i, updatedAt: 0 } : i));
    expect(strip(after)).toEqual(strip(before));
  });
});

describe("both paths give the same answers", () => {
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

describe("the aggregate route reads rollups only up to the watermark", () => {
  const bogus = { co2_ppm: { n: { count: 1, sum: 99999, min: 99999, max: 99999, first: 0 } } };
  const putBogus = (hour: number) =>
    ddb.send(new PutCommand({ TableName: TELEMETRY_TABLES.rollup, Item: { thingName: things[9], hour, metrics: JSON.stringify(bogus) } }));
  /** The job's own items back for the device-hours a test overwrote. */
  const restore = async (...hours: number[]) => {
    for (const h of hours) await rollUpDeviceHour(jobDeps(), things[9]!, day0 + h * HOUR);
  };
  const dayQuery = { from: String(day0), to: String(day0 + DAY - 1), interval: "1h", metrics: "co2_ppm" };

  test("whole hours after the watermark come from raw readings, even where a rollup item exists", async () => {
    const watermark = await ddb.send(new GetCommand({ TableName: TELEMETRY_TABLES.rollup, Key: WATERMARK_KEY }));
    try {
      await ddb.send(new PutCommand({ TableName: TELEMETRY_TABLES.rollup, Item: { ...WATERMARK_KEY, watermark: day0 + 12 * HOUR } }));
      await putBogus(day0 + 12 * HOUR); // after the watermark: never read
      const { raw, rolled, body } = await bothPaths((deps) => aggregateDeviceTelemetry(deps, groups, things[9], dayQuery));
      expect(rolled).toEqual(raw);
      expect(body.points[12]!.metrics.co2_ppm!.max).toBeLessThan(1000);
      await putBogus(day0 + 11 * HOUR); // before it: read (this is how we know the rollup path ran at all)
      const tampered = await aggregateDeviceTelemetry(queryDeps(true), groups, things[9], dayQuery);
      expect((tampered.body as typeof body).points[11]!.metrics.co2_ppm!.max).toBe(99999);
    } finally {
      await ddb.send(new PutCommand({ TableName: TELEMETRY_TABLES.rollup, Item: watermark.Item! }));
      await restore(11, 12);
    }
  });

  test("no watermark: every hour is read raw (a rollup item alone is never trusted)", async () => {
    const watermark = await ddb.send(new GetCommand({ TableName: TELEMETRY_TABLES.rollup, Key: WATERMARK_KEY }));
    await ddb.send(new DeleteCommand({ TableName: TELEMETRY_TABLES.rollup, Key: WATERMARK_KEY }));
    try {
      await putBogus(day0 + 3 * HOUR);
      const { raw, rolled } = await bothPaths((deps) => aggregateDeviceTelemetry(deps, groups, things[9], dayQuery));
      expect(rolled).toEqual(raw);
    } finally {
      await ddb.send(new PutCommand({ TableName: TELEMETRY_TABLES.rollup, Item: watermark.Item! }));
      await restore(3);
    }
  });

  test("fails when the watermark item is malformed: the API answers an error rather than guess", async () => {
    const watermark = await ddb.send(new GetCommand({ TableName: TELEMETRY_TABLES.rollup, Key: WATERMARK_KEY }));
    await ddb.send(new PutCommand({ TableName: TELEMETRY_TABLES.rollup, Item: { ...WATERMARK_KEY, watermark: "soon" } }));
    try {
      await expect(aggregateDeviceTelemetry(queryDeps(true), groups, things[9], dayQuery)).rejects.toThrow(/watermark item holds "soon"/);
      // 5m and 15m never read rollups, so they do not depend on it.
      expect((await aggregateDeviceTelemetry(queryDeps(true), groups, things[9], { ...dayQuery, interval: "15m" })).statusCode).toBe(200);
    } finally {
      await ddb.send(new PutCommand({ TableName: TELEMETRY_TABLES.rollup, Item: watermark.Item! }));
    }
  });
});
