/**
 * The twin runs the hourly rollup job as EventBridge does: at its cron's minute of every hour (a timer),
 * and now on `POST /telemetry-rollup` — the REAL telemetry-rollup handler with the settings the stack
 * deploys (twin-functions.ts), against dynalite.
 */
import { CreateTableCommand } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { loadConfig } from "../../config";
import { advanceWatermark, readWatermark } from "../../functions/shared/rollup-watermark";
import { hourOf } from "../../functions/shared/telemetry-rollup";
import { ROLLUP_SCHEDULE_EXPRESSION } from "../../functions/telemetry-rollup/contract";
import { SETTLE_MS } from "../../functions/telemetry-rollup/job";
import { LocalApiServer } from "../../local/api-server";
import type { LocalFunctions } from "../../local/functions";
import { minuteOfHourlyCron, msUntilMinute, scheduleHourly } from "../../local/hourly-schedule";
import { createTwinFunctions, scheduledEvent } from "../../local/twin-functions";
import { resourceNames } from "../../stacks/shared/naming";
import { startDynalite, type RunningDynalite } from "../support/dynalite";
import { seedReadings } from "../support/telemetry-seed";
import { putItem, registeredDevice, uniqueSerial } from "../functions/helpers";

const HOUR = 3600_000;
const API_KEY = "twin-key";

describe("the twin's hourly schedule", () => {
  test("reads the minute of the job's hourly cron, and refuses any other shape", () => {
    expect(minuteOfHourlyCron(ROLLUP_SCHEDULE_EXPRESSION)).toBe(7);
    expect(() => minuteOfHourlyCron("rate(1 hour)")).toThrow(/not an hourly cron/);
    expect(() => minuteOfHourlyCron("cron(7 8 * * ? *)")).toThrow(/not an hourly cron/);
    expect(() => minuteOfHourlyCron("cron(75 * * * ? *)")).toThrow(/not an hourly cron/);
  });

  test("waits for the next such minute, a whole hour when it is that minute now", () => {
    const h = 1_800_000_000_000 - (1_800_000_000_000 % HOUR);
    expect(msUntilMinute(h, 7)).toBe(7 * 60_000);
    expect(msUntilMinute(h + 7 * 60_000, 7)).toBe(HOUR);
    expect(msUntilMinute(h + 8 * 60_000, 7)).toBe(HOUR - 60_000);
  });

  test("runs at minute 7 of each hour until stopped, also after a failed run", async () => {
    jest.useFakeTimers({ now: 1_800_000_000_000 - (1_800_000_000_000 % HOUR) + 6 * 60_000 });
    try {
      const runs: number[] = [];
      const schedule = scheduleHourly(ROLLUP_SCHEDULE_EXPRESSION, async () => {
        runs.push(Date.now());
        throw new Error("a failed run does not stop the schedule");
      });
      await jest.advanceTimersByTimeAsync(59_999);
      expect(runs).toHaveLength(0);
      await jest.advanceTimersByTimeAsync(1);
      expect(runs).toHaveLength(1);
      await jest.advanceTimersByTimeAsync(HOUR);
      expect(runs).toHaveLength(2);
      expect(runs[1]! - runs[0]!).toBe(HOUR);
      schedule.stop();
      await jest.advanceTimersByTimeAsync(3 * HOUR);
      expect(runs).toHaveLength(2);
    } finally {
      jest.useRealTimers();
    }
  });
});

describe("the twin's rollup job", () => {
  const config = loadConfig("dev");
  const names = resourceNames(config);
  let db: RunningDynalite;
  let fns: LocalFunctions;
  let api: LocalApiServer;
  const things = [uniqueSerial("TR"), uniqueSerial("TR")];
  const h0 = hourOf(Date.now()) - 6 * HOUR;

  beforeAll(async () => {
    db = await startDynalite({ registryTableName: names.registryTable, alertStateTableName: names.alertStateTable, setTableEnv: false });
    for (const [name, range] of [
      [names.telemetryTable, "ts"],
      [names.telemetryRollupTable, "hour"],
    ] as const)
      await db.client.send(
        new CreateTableCommand({
          TableName: name,
          BillingMode: "PAY_PER_REQUEST",
          AttributeDefinitions: [
            { AttributeName: "thingName", AttributeType: "S" },
            { AttributeName: range, AttributeType: "N" },
          ],
          KeySchema: [
            { AttributeName: "thingName", KeyType: "HASH" },
            { AttributeName: range, KeyType: "RANGE" },
          ],
        }),
      );
    for (const thing of things) await putItem(db.client, names.registryTable, registeredDevice(thing));
    await seedReadings(db.client, {
      telemetryTable: names.telemetryTable,
      things,
      start: h0,
      stepMs: 20 * 60_000,
      count: 9,
      metrics: (d, k) => ({ co2_ppm: d + k }),
    });
    // The job starts after this watermark (a first run would start at the hot store's retention, 90 days back).
    await advanceWatermark(DynamoDBDocumentClient.from(db.client), names.telemetryRollupTable, h0, Date.now());
    fns = createTwinFunctions({
      config,
      names,
      alertTopicArn: `arn:aws:sns:${config.region}:${config.accountId}:${names.alertTopic}`,
      dynamodbEndpoint: db.endpoint,
      snsEndpoint: "http://127.0.0.1:9",
      logLevel: "silent",
      counters: { alertsSent: 0, alertsSuppressed: 0, offlineAlerted: 0, sweeps: 0, functionFailures: 0 },
      note: () => undefined,
    });
    api = await LocalApiServer.start({
      apiKey: API_KEY,
      registerHandler: async () => ({ statusCode: 500, body: "not used" }),
      rollup: () => fns.invoke("telemetry-rollup", scheduledEvent(config, names.telemetryRollupSchedule)),
    });
  }, 60_000);

  afterAll(async () => {
    await api?.close();
    fns?.restoreEnvironment();
    await db?.stop();
  });

  test("runs with the stack's settings: the hot-store retention as the rollups' lifetime, 48 hours per run", () => {
    expect(fns.settings("telemetry-rollup")).toMatchObject({
      functionName: names.telemetryRollupFunction,
      timeoutSeconds: 300,
      environment: expect.objectContaining({ ROLLUP_TTL_SECONDS: String(config.telemetry.hotRetentionDays * 86400), ROLLUP_MAX_HOURS_PER_RUN: "48" }),
    });
  });

  test("POST /telemetry-rollup runs the real job now: the completed hours after the watermark, one item per device-hour", async () => {
    const res = await fetch(`${api.url}/telemetry-rollup`, { method: "POST", headers: { "x-api-key": API_KEY } });
    expect(res.status).toBe(200);
    const end = hourOf(Date.now() - SETTLE_MS);
    // Readings at h0 + 0, 20, ... 160 minutes: three readings in each of hours h0..h0+2h, for each of 2 devices.
    expect(await res.json()).toMatchObject({ status: "done", watermarkBefore: h0, watermark: end, devices: 2, itemsWritten: 6, readingsRead: 18 });
    expect(await readWatermark(DynamoDBDocumentClient.from(db.client), names.telemetryRollupTable)).toBe(end);
  });

  test("fails when asked with another method: 405", async () => {
    const res = await fetch(`${api.url}/telemetry-rollup`, { headers: { "x-api-key": API_KEY } });
    expect(res.status).toBe(405);
  });

  test("fails without the API key: 403, like every twin route", async () => {
    const res = await fetch(`${api.url}/telemetry-rollup`, { method: "POST" });
    expect(res.status).toBe(403);
  });
});
