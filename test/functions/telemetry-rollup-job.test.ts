/**
 * The hourly rollup job under hostile conditions, against dynalite: writes still landing when the hour
 * ends, devices without readings or removed from the registry, the Lambda deadline, two runs at once,
 * odd metrics, a failing table, and the handler's own edge (event check, deadline margins).
 * Each scenario has its own tables, so its watermark is its own.
 */
import { DeleteCommand, DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import { WATERMARK_KEY, advanceWatermark, readWatermark } from "../../functions/shared/rollup-watermark";
import { decodeRollupMetrics, hourOf } from "../../functions/shared/telemetry-rollup";
import { aggregateDeviceTelemetry } from "../../functions/telemetry-api/aggregate";
import { SETTLE_MS, hoursToRoll, rollUpCompletedHours, type RollupRun } from "../../functions/telemetry-rollup/job";
import { startDynalite, type RunningDynalite } from "../support/dynalite";
import { putAll, seedReadings } from "../support/telemetry-seed";
import { FAKE_AWS_ENV } from "../../local/dynamo";
import { loadWith, putItem, registeredDevice, uniqueSerial } from "./helpers";
import { HOUR, allItems, apiDeps, createScenario, jobDeps, type ScenarioTables } from "./telemetry-rollup-helpers";

let db: RunningDynalite;
let ddb: DynamoDBDocumentClient;
/** Hour 0 of every scenario: a whole day back, so every hour of it has ended. */
const h0 = hourOf(Date.now()) - 30 * HOUR;
let scenarios = 0;

/** A scenario: its tables, `devices` registered in building `b1`, each with a reading every 15 minutes over `hours` hours from h0. */
async function scenario(devices: number, hours: number) {
  const t = await createScenario(db.client, `s${++scenarios}`);
  const things = Array.from({ length: devices }, () => uniqueSerial("RJ"));
  for (const thing of things) await putItem(db.client, t.registry, registeredDevice(thing, { metadata: { buildingId: "b1" } }));
  await seedReadings(db.client, {
    telemetryTable: t.telemetry,
    things,
    start: h0,
    stepMs: 15 * 60_000,
    count: hours * 4,
    metrics: (d, k) => ({ co2_ppm: 400 + d * 10 + k, occupancy: k % 2 === 0 }),
  });
  // The watermark at h0: the job starts there (not at the retention's start).
  await advanceWatermark(ddb, t.rollup, h0, Date.now());
  return { t, things };
}

/** The job's run at `now` (fixed clock, no deadline). */
const runAt = (t: ScenarioTables, now: number, overrides: Parameters<typeof jobDeps>[3] = {}) => rollUpCompletedHours(jobDeps(ddb, t, now, overrides));

const itemsOf = async (t: ScenarioTables) => (await allItems(ddb, t.rollup)).filter((i) => i.thingName !== WATERMARK_KEY.thingName);

beforeAll(async () => {
  db = await startDynalite();
  ddb = DynamoDBDocumentClient.from(db.client);
}, 60_000);

afterAll(async () => {
  await db?.stop();
});

describe("which hours a run rolls", () => {
  test("only hours that ended SETTLE_MS ago, from the watermark, at most maxHours", () => {
    expect(hoursToRoll(h0, h0 + HOUR + SETTLE_MS - 1, 86400, 48)).toEqual([]);
    expect(hoursToRoll(h0, h0 + HOUR + SETTLE_MS, 86400, 48)).toEqual([h0]);
    expect(hoursToRoll(h0, h0 + 10 * HOUR + SETTLE_MS, 86400, 3)).toEqual([h0, h0 + HOUR, h0 + 2 * HOUR]);
    // No watermark: from the first hour none of whose readings have expired.
    expect(hoursToRoll(undefined, h0 + 5 * HOUR + SETTLE_MS, 3 * 3600, 48)).toEqual([h0 + 3 * HOUR, h0 + 4 * HOUR]);
  });

  test("a reading of an hour's last millisecond whose store write lands after the hour ended is counted: the job waits SETTLE_MS", async () => {
    const { t, things } = await scenario(1, 1);
    expect(await runAt(t, h0 + HOUR + 60_000)).toMatchObject({ status: "up-to-date", watermark: h0 });
    await putAll(db.client, t.telemetry, [{ thingName: things[0], ts: h0 + HOUR - 1, metrics: { co2_ppm: 9000 } }]);
    expect(await runAt(t, h0 + HOUR + SETTLE_MS)).toMatchObject({ status: "done", watermark: h0 + HOUR, itemsWritten: 1, readingsRead: 5 });
    expect(decodeRollupMetrics((await itemsOf(t))[0]!.metrics).co2_ppm!.n).toMatchObject({ count: 5, max: 9000 });
  });

  test("a write landing after its hour was rolled (not something AWS IoT's arrival stamp produces) stays out until a re-run, which counts it", async () => {
    const { t, things } = await scenario(1, 2);
    await runAt(t, h0 + 3 * HOUR);
    await putAll(db.client, t.telemetry, [{ thingName: things[0], ts: h0 + 30 * 60_000 + 1, metrics: { co2_ppm: 1 } }]);
    const query = { from: String(h0), to: String(h0 + HOUR - 1), interval: "1h", metrics: "co2_ppm" };
    const rolled = await aggregateDeviceTelemetry(apiDeps(ddb, t, h0 + 3 * HOUR, true), ["b1"], things[0], query);
    expect((rolled.body as { points: { metrics: { co2_ppm: { count: number } } }[] }).points[0]!.metrics.co2_ppm.count).toBe(4);
    // The repair: move the watermark back by hand and run again; the hour is recomputed whole from its readings.
    await ddb.send(new PutCommand({ TableName: t.rollup, Item: { ...WATERMARK_KEY, watermark: h0 } }));
    await runAt(t, h0 + 3 * HOUR);
    const again = await aggregateDeviceTelemetry(apiDeps(ddb, t, h0 + 3 * HOUR, true), ["b1"], things[0], query);
    expect((again.body as { points: { metrics: { co2_ppm: { count: number; min: number } } }[] }).points[0]!.metrics.co2_ppm).toMatchObject({
      count: 5,
      min: 1,
    });
  });
});

describe("devices", () => {
  test("a registered device without readings gets no item; the run still completes", async () => {
    const { t, things } = await scenario(2, 2);
    const quiet = uniqueSerial("RJQ");
    await putItem(db.client, t.registry, registeredDevice(quiet));
    expect(await runAt(t, h0 + 2 * HOUR + SETTLE_MS)).toMatchObject({ status: "done", devices: 3, itemsWritten: 4, hoursRolled: 2 });
    expect(new Set((await itemsOf(t)).map((i) => i.thingName))).toEqual(new Set(things));
  });

  test("a device removed from the registry is not rolled any more, and the API answers 403 for it on either path", async () => {
    const { t, things } = await scenario(2, 2);
    await runAt(t, h0 + HOUR + SETTLE_MS);
    await ddb.send(new DeleteCommand({ TableName: t.registry, Key: { serialNumber: things[1] } }));
    expect(await runAt(t, h0 + 2 * HOUR + SETTLE_MS)).toMatchObject({ devices: 1, itemsWritten: 1 });
    const items = await itemsOf(t);
    expect(items.filter((i) => i.thingName === things[1]).map((i) => i.hour)).toEqual([h0]);
    for (const rollups of [true, false]) {
      const answer = await aggregateDeviceTelemetry(apiDeps(ddb, t, h0 + 3 * HOUR, rollups), ["b1"], things[1], { from: String(h0), interval: "1h" });
      expect(answer.statusCode).toBe(403);
    }
  });

  test("metrics without a number or boolean write no item; past 64 names the first ones in time are kept, on every run alike", async () => {
    const t = await createScenario(db.client, `s${++scenarios}`);
    const [texts, wide] = [uniqueSerial("RJT"), uniqueSerial("RJW")];
    for (const thing of [texts, wide]) await putItem(db.client, t.registry, registeredDevice(thing));
    const names = (from: number) => Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`m${from + i}`, i]));
    await putAll(db.client, t.telemetry, [
      { thingName: texts, ts: h0 + 1, metrics: { firmware: "1.2.3", nested: { a: 1 } } },
      { thingName: texts, ts: h0 + 2 },
      { thingName: wide, ts: h0 + 20, metrics: names(40) },
      { thingName: wide, ts: h0 + 10, metrics: names(0) },
    ]);
    await advanceWatermark(ddb, t.rollup, h0, Date.now());
    expect(await runAt(t, h0 + HOUR + SETTLE_MS)).toMatchObject({ status: "done", itemsWritten: 1, readingsRead: 4 });
    const [item] = await itemsOf(t);
    const kept = Object.keys(decodeRollupMetrics(item!.metrics));
    expect(kept).toHaveLength(64);
    expect(kept).toEqual(expect.arrayContaining(["m0", "m39", "m40", "m63"]));
    expect(kept).not.toContain("m64");
    await ddb.send(new PutCommand({ TableName: t.rollup, Item: { ...WATERMARK_KEY, watermark: h0 } }));
    await runAt(t, h0 + HOUR + SETTLE_MS);
    expect(await itemsOf(t)).toEqual([item]);
  });
});

describe("deadline and concurrency", () => {
  test("a run that reaches its deadline stops between device-hours, the watermark after the last fully rolled hour; the next run finishes", async () => {
    const { t } = await scenario(5, 4);
    const end = h0 + 4 * HOUR + SETTLE_MS;
    let ticks = 0;
    // The clock passes stopAt after 14 readings of it: the start, then 5 device-hours and the watermark for each of two hours, then one more device.
    const run = await runAt(t, end, { concurrency: 1, stopAt: end + 1, now: () => (++ticks > 14 ? end + 1 : end) });
    expect(run).toMatchObject({ status: "deadline", watermark: h0 + 2 * HOUR, hoursRolled: 2 });
    expect(await readWatermark(ddb, t.rollup, { consistent: true })).toBe(h0 + 2 * HOUR);
    expect(await runAt(t, end)).toMatchObject({ status: "done", watermarkBefore: h0 + 2 * HOUR, watermark: h0 + 4 * HOUR, hoursRolled: 2 });
    expect(await itemsOf(t)).toHaveLength(20);
  });

  test("fails when aborted (the handler's hard deadline): in-flight calls stop and the watermark stays", async () => {
    const { t } = await scenario(2, 2);
    await expect(runAt(t, h0 + 2 * HOUR + SETTLE_MS, { signal: AbortSignal.abort() })).rejects.toThrow(/abort/i);
    expect(await readWatermark(ddb, t.rollup, { consistent: true })).toBe(h0);
  });

  test("two runs at once write the same items and the watermark ends at the last hour; a lower watermark is never written", async () => {
    const { t } = await scenario(6, 3);
    const now = h0 + 3 * HOUR + SETTLE_MS;
    const runs: RollupRun[] = await Promise.all([runAt(t, now, { concurrency: 2 }), runAt(t, now, { concurrency: 3 })]);
    // The loser of a watermark write stops (or, had it started after the winner finished, found nothing to do).
    expect(runs.filter((r) => r.status === "done")).toHaveLength(1);
    expect(["overtaken", "up-to-date"]).toContain(runs.find((r) => r.status !== "done")!.status);
    expect(await readWatermark(ddb, t.rollup, { consistent: true })).toBe(h0 + 3 * HOUR);
    expect(await itemsOf(t)).toHaveLength(18);
    expect(await advanceWatermark(ddb, t.rollup, h0 + HOUR, Date.now())).toBe(false);
    expect(await advanceWatermark(ddb, t.rollup, h0 + 3 * HOUR, Date.now())).toBe(false);
    expect(await readWatermark(ddb, t.rollup, { consistent: true })).toBe(h0 + 3 * HOUR);
  });

  test("fails when one device-hour fails: the others start nothing new, nothing runs on after the error, the watermark stays", async () => {
    const { t, things } = await scenario(8, 1);
    let sends = 0;
    const failing = {
      send: (command: { input: { ExpressionAttributeValues?: Record<string, unknown> } }, options?: unknown) => {
        sends++;
        if (command.input.ExpressionAttributeValues?.[":thing"] === things[2]) return Promise.reject(new Error("ProvisionedThroughputExceededException"));
        return (ddb.send as (c: unknown, o?: unknown) => Promise<unknown>)(command, options);
      },
    } as unknown as DynamoDBDocumentClient;
    await expect(runAt(t, h0 + HOUR + SETTLE_MS, { ddb: failing, concurrency: 2 })).rejects.toThrow(/ProvisionedThroughput/);
    const atError = sends;
    await new Promise((r) => setTimeout(r, 200));
    expect(sends).toBe(atError);
    expect((await itemsOf(t)).length).toBeLessThan(things.length);
    expect(await readWatermark(ddb, t.rollup, { consistent: true })).toBe(h0);
  });

  test("fails when the hot store cannot be read: the error reaches Lambda (retried, then the on-failure queue) and the watermark stays", async () => {
    const { t } = await scenario(1, 2);
    await expect(runAt({ ...t, telemetry: "no-such-table" }, h0 + 2 * HOUR + SETTLE_MS)).rejects.toThrow(/non-existent table|not found/i);
    expect(await readWatermark(ddb, t.rollup, { consistent: true })).toBe(h0);
  });
});

describe("the handler", () => {
  type Module = { handler: (event: unknown, context?: unknown) => Promise<Record<string, unknown>>; STOP_MARGIN_MS: number };
  const scheduled = { "detail-type": "Scheduled Event", source: "aws.events", detail: {} };
  const load = (t: ScenarioTables) =>
    loadWith<Module>("../../functions/telemetry-rollup", {
      ...FAKE_AWS_ENV,
      LOG_LEVEL: "silent",
      AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
      REGISTRY_TABLE_NAME: t.registry,
      TELEMETRY_TABLE_NAME: t.telemetry,
      TELEMETRY_ROLLUP_TABLE_NAME: t.rollup,
      ROLLUP_TTL_SECONDS: String(2 * 86400),
      ROLLUP_MAX_HOURS_PER_RUN: "48",
    }).mod;

  test("drops anything but a scheduled event, without reading a table", async () => {
    const mod = load({ registry: "none", telemetry: "none", rollup: "none" });
    expect(await mod.handler({ Records: [] })).toEqual({ status: "dropped" });
    expect(await mod.handler(undefined)).toEqual({ status: "dropped" });
  });

  test("a scheduled run with no time left past its stop margin rolls nothing; with time, it rolls up to the last completed hour", async () => {
    const { t } = await scenario(2, 2);
    const mod = load(t);
    const tight = await mod.handler(scheduled, { awsRequestId: "r1", getRemainingTimeInMillis: () => mod.STOP_MARGIN_MS });
    expect(tight).toMatchObject({ status: "deadline", hoursRolled: 0, watermark: h0 });
    const full = await mod.handler(scheduled, { awsRequestId: "r2", getRemainingTimeInMillis: () => 300_000 });
    expect(full).toMatchObject({ status: "done", watermarkBefore: h0, watermark: hourOf(Date.now() - SETTLE_MS), itemsWritten: 4 });
  });
});
