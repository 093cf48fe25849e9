/**
 * Benchmark of the dashboard API's aggregates against a local dynalite (not a test; it prints figures).
 *
 *   npm run bench:telemetry -- [--device-runs 200] [--building-runs 10] [--building-devices 50] [--in-process]
 *
 * Round 0: the hourly rollup job (functions/telemetry-rollup/job.ts) rolls the seeded week, 48 hours per run
 *          as deployed, until it is done: runs, device-hours, items, readings read and device-hours a second.
 * Round 1: `GET /devices/{thing}/telemetry/aggregate`, 24 hours of one device at 10-minute sampling,
 *          hourly (the seed's scale: 144 readings); targets p99 <= 200 ms.
 * Round 2: `GET /buildings/{id}/telemetry/aggregate`, 7 days of a 50-device building at 10-minute
 *          sampling, hourly (50,400 readings); targets <= 2 s.
 * The REAL handler (functions/telemetry-api) runs in this process with the AWS SDK over local HTTP;
 * dynalite runs in a child process (its own core; `--in-process` puts it on this event loop, as the
 * tests do). The figures are the handler's cost plus dynalite's, not DynamoDB's service latency.
 */
import { performance } from "node:perf_hooks";
import type { APIGatewayProxyEventV2WithJWTAuthorizer } from "aws-lambda";
import { TELEMETRY_API } from "../functions/telemetry-api/contract";
import { advanceWatermark } from "../functions/shared/rollup-watermark";
import { TELEMETRY_ROLLUP } from "../functions/telemetry-rollup/contract";
import { newRun, rollUpCompletedHours, type RollupRun } from "../functions/telemetry-rollup/job";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { FAKE_AWS_ENV, createTables, startDynalite, startDynaliteProcess } from "../local/dynamo";
import { TELEMETRY_TABLES, createTelemetryTables } from "../test/functions/telemetry-helpers";
import { putAll, seedReadings } from "../test/support/telemetry-seed";

const DAY = 86_400_000;
const STEP = 10 * 60_000;

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} needs a positive whole number`);
  return value;
}

function event(routeKey: string, path: Record<string, string>, query: Record<string, string>, buildingId: string): APIGatewayProxyEventV2WithJWTAuthorizer {
  return {
    version: "2.0",
    routeKey,
    headers: {},
    pathParameters: path,
    queryStringParameters: query,
    requestContext: { routeKey, authorizer: { jwt: { claims: { sub: "bench", "cognito:groups": `building-${buildingId}` }, scopes: null } } },
  } as unknown as APIGatewayProxyEventV2WithJWTAuthorizer;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;

function report(name: string, target: string, latencies: number[], points: number, readings: number): void {
  const sorted = [...latencies].sort((a, b) => a - b);
  const ms = (x: number) => `${x.toFixed(1)} ms`;
  console.log(
    [
      `${name}  (${readings} readings -> ${points} points, ${sorted.length} requests; target ${target})`,
      `  p50 ${ms(percentile(sorted, 50))}   p95 ${ms(percentile(sorted, 95))}   p99 ${ms(percentile(sorted, 99))}   max ${ms(sorted[sorted.length - 1]!)}`,
    ].join("\n"),
  );
}

async function main(): Promise<void> {
  const deviceRuns = option("device-runs", 200);
  const buildingRuns = option("building-runs", 10);
  const buildingDevices = option("building-devices", 50);
  const inProcess = process.argv.includes("--in-process");
  const db = inProcess ? await startDynalite() : await startDynaliteProcess();
  console.log(`dynalite ${inProcess ? "in this process" : "in a child process"} on ${db.endpoint}`);
  // The handler's environment from its contract, as the stack sets it.
  const registryTableName = "device-registry";
  Object.assign(
    process.env,
    FAKE_AWS_ENV,
    { AWS_ENDPOINT_URL_DYNAMODB: db.endpoint, LOG_LEVEL: "warn" },
    TELEMETRY_API.environment({
      environment: "bench",
      telemetryTableName: TELEMETRY_TABLES.telemetry,
      rollupTableName: TELEMETRY_TABLES.rollup,
      registryTableName,
    }),
  );
  await createTables(db.client, registryTableName, "alert-state");
  await createTelemetryTables(db.client);
  // Loaded after the environment is set: the handler reads its configuration at module load.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { handler } = require("../functions/telemetry-api") as typeof import("../functions/telemetry-api");

  const day0 = Math.floor((Date.now() - 8 * DAY) / DAY) * DAY;
  const things = Array.from({ length: buildingDevices }, (_, i) => `BENCH${String(i).padStart(5, "0")}`);
  const metrics = (d: number, k: number) => ({
    co2_ppm: 400 + d + (k % 60),
    temperature_c: 20 + (k % 10) / 10,
    humidity_pct: 45,
    occupancy: (k + d) % 3 === 0,
  });
  const started = performance.now();
  await putAll(
    db.client,
    registryTableName,
    things.map((serialNumber) => ({ serialNumber, thingName: serialNumber, status: "PROVISIONED", metadata: { buildingId: "bench" } })),
  );
  const written = await seedReadings(db.client, {
    telemetryTable: TELEMETRY_TABLES.telemetry,
    things,
    start: day0,
    stepMs: STEP,
    count: 7 * 144,
    metrics,
  });
  console.log(`seeded ${written} readings of ${things.length} devices in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  await rollUpSeededHours(db.client, registryTableName, day0);

  const run = async (e: APIGatewayProxyEventV2WithJWTAuthorizer) => {
    const t0 = performance.now();
    const result = await handler(e);
    const elapsed = performance.now() - t0;
    if (result.statusCode !== 200) throw new Error(`${e.routeKey} answered ${result.statusCode}: ${result.body}`);
    return { elapsed, body: JSON.parse(result.body as string) as { points: { metrics: Record<string, { count?: number }> }[] } };
  };
  const counted = (body: { points: { metrics: Record<string, { count?: number }> }[] }) => body.points.reduce((n, p) => n + (p.metrics.co2_ppm?.count ?? 0), 0);

  // Round 1: one device, 24 hours, hourly.
  const deviceEvent = event(
    "GET /devices/{thingName}/telemetry/aggregate",
    { thingName: things[0]! },
    { from: String(day0 + 6 * DAY), to: String(day0 + 7 * DAY - 1), interval: "1h" },
    "bench",
  );
  await run(deviceEvent); // warm-up: module, SDK client and connection set-up, as a warm Lambda has them
  const deviceLatencies: number[] = [];
  let last = await run(deviceEvent);
  for (let i = 0; i < deviceRuns; i++) {
    last = await run(deviceEvent);
    deviceLatencies.push(last.elapsed);
  }
  report("device aggregate, 24 h hourly", "p99 <= 200 ms", deviceLatencies, last.body.points.length, counted(last.body));

  // Round 2: the building, 7 days, hourly.
  const buildingEvent = event(
    "GET /buildings/{buildingId}/telemetry/aggregate",
    { buildingId: "bench" },
    { from: String(day0), to: String(day0 + 7 * DAY - 1), interval: "1h" },
    "bench",
  );
  const buildingLatencies: number[] = [];
  for (let i = 0; i < buildingRuns; i++) {
    last = await run(buildingEvent);
    buildingLatencies.push(last.elapsed);
  }
  report(`building aggregate, ${things.length} devices, 7 days hourly`, "<= 2 s", buildingLatencies, last.body.points.length, counted(last.body));
  await db.close();
}

/** Round 0: the job's own code rolls every completed hour since day0 (the watermark put there first), run after run, as its schedule would catch up. */
async function rollUpSeededHours(client: Parameters<typeof DynamoDBDocumentClient.from>[0], registryTableName: string, day0: number): Promise<void> {
  const ddb = DynamoDBDocumentClient.from(client);
  await advanceWatermark(ddb, TELEMETRY_TABLES.rollup, day0, Date.now());
  const total = newRun();
  let runs = 0;
  const t0 = performance.now();
  for (let run: RollupRun | undefined; run?.status !== "done" && run?.status !== "up-to-date"; runs++) {
    run = await rollUpCompletedHours({
      ddb,
      registryTableName,
      telemetryTableName: TELEMETRY_TABLES.telemetry,
      rollupTableName: TELEMETRY_TABLES.rollup,
      ttlSeconds: TELEMETRY_ROLLUP.defaults.rollupTtlSeconds,
      maxHoursPerRun: TELEMETRY_ROLLUP.defaults.maxHoursPerRun,
      now: Date.now,
      stopAt: Number.MAX_SAFE_INTEGER,
    });
    if (run.status !== "done" && run.status !== "behind" && run.status !== "up-to-date") throw new Error(`rollup run ended ${run.status}`);
    total.hoursRolled += run.hoursRolled;
    total.itemsWritten += run.itemsWritten;
    total.readingsRead += run.readingsRead;
    total.devices = run.devices;
  }
  const seconds = (performance.now() - t0) / 1000;
  const deviceHours = total.hoursRolled * total.devices;
  console.log(
    [
      `rollup job: ${runs} run(s), ${total.hoursRolled} hours x ${total.devices} devices = ${deviceHours} device-hours (${total.itemsWritten} items, ${total.readingsRead} readings read)`,
      `  ${seconds.toFixed(1)} s, ${(deviceHours / seconds).toFixed(0)} device-hours/s (one consistent Query + one PutItem each)\n`,
    ].join("\n"),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
