/**
 * The saved Athena queries (stacks/assets/athena/*.sql) run with DuckDB over local copies of the twin's
 * warm files: telemetry payloads go through the synthesized store rule (the twin's rules engine) and the
 * twin's Firehose into s3rver, in Firehose's layout; the objects are copied to a folder and DuckDB
 * reads them as the Glue table describes them (WARM_TABLE_COLUMNS, WARM_PARTITION_KEYS). A schema or
 * layout change that breaks a query fails here.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { GetObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { loadConfig } from "../../config";
import { synthesizeIot } from "../../local/iot-core/synthesized-iot";
import { RulesEngine } from "../../local/rules/engine";
import { LocalFirehose } from "../../local/rules/firehose";
import { startS3Server, type S3Server } from "../../local/s3-server";
import { WARM_PARTITION_KEYS, WARM_TABLE_COLUMNS, loadSavedQueries, type SavedQuery } from "../../stacks/telemetry/warm-store-queries";
import { resourceNames } from "../../stacks/shared/naming";
import { SAVED_QUERIES_DIR } from "../../stacks/telemetry-stack";
import { packWarmRecords, warmLine } from "../../functions/telemetry-broadcast/warm-store";
import type { HotItem } from "../../functions/telemetry-broadcast/stream-records";
import { scratchDir } from "../support/scratch";

jest.setTimeout(120_000);

const names = resourceNames(loadConfig("dev"));
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DEVICES = ["20000000c0de0001", "20000000c0de0002", "20000000c0de0003"];
/** Readings every 10 minutes for 8 days, 5 minutes off the 10-minute grid from now, so no reading sits near a cutoff. */
const READINGS = 8 * 24 * 6;
const now = Date.now();
const arrivalOf = (k: number) => now - 5 * MINUTE - k * 10 * MINUTE;
const co2Of = (d: number, k: number) => 400 + 100 * d + (k % 37);
const temperatureOf = (d: number, k: number) => 18 + d + (k % 5) / 2;
const occupiedOf = (d: number, k: number) => (k + d) % 4 === 0;
/** Device 0 sends occupancy as booleans, device 1 as 1/0 (the twin's room sensor), device 2 none. */
const occupancyOf = (d: number, k: number) => (d === 0 ? occupiedOf(d, k) : d === 1 ? (occupiedOf(d, k) ? 1 : 0) : undefined);

/** Hive types of the Glue table as DuckDB types. */
function duckType(hive: string): string {
  const struct = /^struct<(.+)>$/.exec(hive);
  if (struct)
    return `STRUCT(${struct[1]!
      .split(",")
      .map((f) => {
        const [n, t] = f.split(":");
        return `${n} ${duckType(t!)}`;
      })
      .join(", ")})`;
  const simple: Record<string, string> = { string: "VARCHAR", bigint: "BIGINT", int: "INTEGER", double: "DOUBLE", boolean: "BOOLEAN" };
  if (!simple[hive]) throw new Error(`no DuckDB type for Hive type ${hive}`);
  return simple[hive]!;
}

let s3: S3Server;
let db: DuckDBConnection;
let queries: SavedQuery[];
let objectKeys: string[];
let instance: DuckDBInstance;

beforeAll(async () => {
  const work = scratchDir("shf-queries-");
  const rules = synthesizeIot("dev").topicRules;
  const stream = rules.deliveryStreams.get(names.telemetryDeliveryStream)!;
  s3 = await startS3Server({ directory: path.join(work, "s3"), buckets: [stream.bucketName] });

  // GIVEN the devices' telemetry through the synthesized store rule (its hot-table items), then the way
  // the stream consumer forwards them: its warm lines packed into Firehose records, into the twin's Firehose.
  let clock = 0;
  const firehose = new LocalFirehose({ s3: s3.client, streams: rules.deliveryStreams, flushIntervalMs: 0, now: () => clock });
  let stored: HotItem[] = [];
  const engine = new RulesEngine({
    rules: rules.rules,
    now: () => clock,
    targets: {
      invokeLambda: () => undefined,
      putItem: async (_table, item) => void stored.push(item as HotItem),
      putRecord: async () => undefined,
      putLogEvent: async () => undefined,
    },
  });
  for (let k = READINGS - 1; k >= 0; k--) {
    clock = arrivalOf(k);
    for (let d = 0; d < DEVICES.length; d++) {
      const occupancy = occupancyOf(d, k);
      const metrics = { co2_ppm: co2Of(d, k), temperature_c: temperatureOf(d, k), humidity_pct: 40, ...(occupancy === undefined ? {} : { occupancy }) };
      await engine.dispatch(`devices/${DEVICES[d]}/telemetry`, Buffer.from(JSON.stringify({ ts: new Date(clock).toISOString(), metrics })));
    }
    await engine.idle();
    for (const record of packWarmRecords(stored.map(warmLine))) await firehose.putRecord(names.telemetryDeliveryStream, record.data);
    stored = [];
  }
  await firehose.close();

  // Local copies of the warm files, keys as in the bucket.
  const copy = path.join(work, "warm");
  objectKeys = [];
  let token: string | undefined;
  do {
    const page = await s3.client.send(new ListObjectsV2Command({ Bucket: stream.bucketName, ContinuationToken: token }));
    for (const object of page.Contents ?? []) {
      const body = await s3.client.send(new GetObjectCommand({ Bucket: stream.bucketName, Key: object.Key! }));
      const file = path.join(copy, object.Key!);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, Buffer.from(await body.Body!.transformToByteArray()));
      objectKeys.push(object.Key!);
    }
    token = page.NextContinuationToken;
  } while (token);

  // The Glue table as a DuckDB view named like it; JSON keys matched case-insensitively as the JSON SerDe does.
  instance = await DuckDBInstance.create(":memory:");
  db = await instance.connect();
  await db.run("SET TimeZone = 'UTC'");
  const sample = JSON.parse(
    (await import("node:zlib"))
      .gunzipSync(fs.readFileSync(path.join(copy, objectKeys[0]!)))
      .toString("utf8")
      .split("\n")[0]!,
  ) as Record<string, unknown>;
  const jsonKey = (column: string) => Object.keys(sample).find((k) => k.toLowerCase() === column) ?? column;
  const columns = WARM_TABLE_COLUMNS.map((c) => `'${jsonKey(c.name)}': '${duckType(c.type)}'`).join(", ");
  const hiveTypes = WARM_PARTITION_KEYS.map((k) => `'${k.name}': '${duckType(k.type)}'`).join(", ");
  await db.run(
    `CREATE VIEW ${names.telemetryGlueTable} AS SELECT ${WARM_TABLE_COLUMNS.map((c) => `"${jsonKey(c.name)}" AS ${c.name}`).join(", ")}, ${WARM_PARTITION_KEYS.map((k) => k.name).join(", ")} ` +
      `FROM read_json('${copy}/telemetry/*/*/*/*/*.json.gz', format = 'newline_delimited', compression = 'gzip', columns = {${columns}}, hive_partitioning = true, hive_types = {${hiveTypes}})`,
  );
  queries = loadSavedQueries(SAVED_QUERIES_DIR);
});

afterAll(async () => {
  db?.closeSync();
  instance?.closeSync();
  await s3?.close();
});

async function run(id: string): Promise<Record<string, unknown>[]> {
  const query = queries.find((q) => q.id === id);
  if (!query) throw new Error(`no saved query ${id}`);
  const reader = await db.runAndReadAll(query.sql);
  return reader.getRowObjectsJS() as Record<string, unknown>[];
}

const withinLast = (ms: number) => Array.from({ length: READINGS }, (_, k) => k).filter((k) => arrivalOf(k) >= now - ms);

test("the twin's warm files use Firehose's layout: Hive hour partitions of GZIP JSON lines named after the stream", () => {
  expect(objectKeys.length).toBeGreaterThanOrEqual(8 * 24);
  for (const key of objectKeys) {
    expect(key).toMatch(
      new RegExp(`^telemetry/year=\\d{4}/month=\\d{2}/day=\\d{2}/hour=\\d{2}/${names.telemetryDeliveryStream}-1-\\d{4}(-\\d{2}){5}-[0-9a-f-]{36}\\.json\\.gz$`),
    );
  }
});

test("the saved queries are the seed's three questions, each with a description", () => {
  expect(queries.map((q) => q.id)).toEqual(["avg-co2-temperature-by-device-24h", "occupancy-trend-hourly-7d", "recent-telemetry"]);
});

test("recent-telemetry: the last hour's readings, newest first", async () => {
  const rows = await run("recent-telemetry");
  const ks = withinLast(HOUR);
  expect(ks).toHaveLength(6);
  const expected = ks.flatMap((k) =>
    DEVICES.map((thing, d) => ({ thing_name: thing, ts: arrivalOf(k), co2_ppm: co2Of(d, k), temperature_c: temperatureOf(d, k) })),
  );
  expect(rows.map((r) => ({ ...r, ts: Number(r.ts) }))).toEqual(expected);
});

test("avg-co2-temperature-by-device-24h: one row per device with its 24-hour averages", async () => {
  const rows = await run("avg-co2-temperature-by-device-24h");
  const ks = withinLast(24 * HOUR);
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  expect(rows).toHaveLength(DEVICES.length);
  DEVICES.forEach((thing, d) => {
    const row = rows[d]!;
    expect(row.thing_name).toBe(thing);
    expect(Number(row.readings)).toBe(ks.length);
    expect(row.avg_co2_ppm as number).toBeCloseTo(avg(ks.map((k) => co2Of(d, k))), 9);
    expect(row.avg_temperature_c as number).toBeCloseTo(avg(ks.map((k) => temperatureOf(d, k))), 9);
  });
});

test("occupancy-trend-hourly-7d: per UTC hour, readings with occupancy and how many were occupied, booleans and 1/0 alike", async () => {
  const rows = await run("occupancy-trend-hourly-7d");
  const expected = new Map<string, { events: number; occupied: number }>();
  for (const k of withinLast(7 * 24 * HOUR)) {
    const t = new Date(arrivalOf(k));
    const hour = `${t.getUTCFullYear()}-${t.getUTCMonth() + 1}-${t.getUTCDate()}-${t.getUTCHours()}`;
    const bucket = expected.get(hour) ?? { events: 0, occupied: 0 };
    for (const d of [0, 1]) {
      bucket.events++;
      if (occupiedOf(d, k)) bucket.occupied++;
    }
    expected.set(hour, bucket);
  }
  const got = new Map(rows.map((r) => [`${r.year}-${r.month}-${r.day}-${r.hour}`, { events: Number(r.events), occupied: Number(r.occupied_count) }]));
  expect(got).toEqual(expected);
  // Newest hour first.
  const order = rows.map((r) => Date.UTC(Number(r.year), Number(r.month) - 1, Number(r.day), Number(r.hour)));
  expect(order).toEqual([...order].sort((a, b) => b - a));
});
