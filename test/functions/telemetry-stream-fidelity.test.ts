/**
 * The stream consumer replaces three kinds of topic rule actions; what it sends must be what they sent.
 * Each device message goes through the store rule's SQL (the twin's IoT SQL engine), DynamoDB's
 * marshalling and a stream record, then through the consumer's own code; the result is compared with
 * what the store rule's Firehose action and the threshold rules produce from the same message.
 * Then the packing limits of PutRecordBatch, the building cache's expiry, and the hand-signed Lambda
 * Invoke against the SDK's own request.
 */
import { marshall } from "@aws-sdk/util-dynamodb";
import { createEventInvoker } from "../../functions/telemetry-broadcast/lambda-invoke";
import { BuildingCache } from "../../functions/telemetry-broadcast/live-updates";
import { parseStreamBatch } from "../../functions/telemetry-broadcast/stream-records";
import { thresholdAlerts, type Threshold } from "../../functions/telemetry-broadcast/thresholds";
import { FIREHOSE_LIMITS, groupIntoCalls, packWarmRecords, warmLine } from "../../functions/telemetry-broadcast/warm-store";
import { FAKE_AWS_ENV } from "../../local/dynamo";
import { parseIotSql } from "../../local/rules/sql";
import { storeSql } from "../../stacks/telemetry/rule-sql";
import { thresholdSql } from "../support/former-threshold-sql";
import { startStandIn, streamRecord, type StandIn } from "./stream-consumer-helpers";

const THING = "SN-FIDELITY-1";
const TOPIC = `devices/${THING}/telemetry`;
const ARRIVAL = 1_764_151_200_123;
const HOT_RETENTION_SECONDS = 90 * 86400;

/** The message as the consumer sees it: store rule output -> DynamoDB item -> stream record -> parsed reading. */
function throughTheHotTable(payload: unknown) {
  const stored = parseIotSql(storeSql(HOT_RETENTION_SECONDS)).evaluate({ topic: TOPIC, payload: Buffer.from(JSON.stringify(payload)), timestamp: ARRIVAL });
  const record = streamRecord(stored as Record<string, unknown>, { newImage: marshall(stored as Record<string, unknown>) });
  const { readings, skipped } = parseStreamBatch([record]);
  return { stored, reading: readings[0], skipped };
}

const VALUES: [string, unknown][] = [
  ["a number above", 1600],
  ["a decimal above", 1500.25],
  ["the number itself", 1500],
  ["a number below", 1499.9],
  ["a negative number", -3],
  ["a numeric string above", "1800.5"],
  ["a numeric string with spaces", " 1600 "],
  ["a numeric string below", "12"],
  ["an empty string", ""],
  ["a word", "high"],
  ["true", true],
  ["false", false],
  ["null", null],
  ["an object", { value: 2000 }],
  ["an array", [2000]],
];
const THRESHOLDS: Threshold[] = [
  { metric: "co2_ppm", operator: ">", value: 1500 },
  { metric: "co2_ppm", operator: ">=", value: 1500 },
  { metric: "co2_ppm", operator: "<", value: 15.5 },
  { metric: "co2_ppm", operator: "<=", value: 0 },
];

describe("the consumer's output matches the topic rules it replaces", () => {
  test.each(VALUES)("threshold alerts for %s are the threshold rules' payloads", (_name, value) => {
    // GIVEN a message with the metric, through the hot table
    const payload = { ts: "2026-11-26T10:00:00Z", metrics: { co2_ppm: value, temperature_c: 21 } };
    const { reading } = throughTheHotTable(payload);
    for (const threshold of THRESHOLDS) {
      // WHEN the consumer checks the threshold
      const mine = thresholdAlerts([threshold], reading);
      // THEN it alerts exactly when the threshold rule fires, with the rule's payload
      const rule = parseIotSql(thresholdSql(threshold)).evaluate({ topic: TOPIC, payload: Buffer.from(JSON.stringify(payload)), timestamp: ARRIVAL });
      expect({ threshold, alerts: mine }).toEqual({ threshold, alerts: rule === undefined ? [] : [rule] });
    }
  });

  test("a missing metric, or no metrics at all, never alerts (as the rules never fire)", () => {
    for (const payload of [{ metrics: { temperature_c: 30 } }, { ts: 5 }]) {
      const { reading } = throughTheHotTable(payload);
      for (const threshold of THRESHOLDS) {
        expect(
          parseIotSql(thresholdSql(threshold)).evaluate({ topic: TOPIC, payload: Buffer.from(JSON.stringify(payload)), timestamp: ARRIVAL }),
        ).toBeUndefined();
        expect(thresholdAlerts([threshold], reading)).toEqual([]);
      }
    }
  });

  test.each([
    ["a full reading", { ts: "2026-11-26T10:00:00Z", metrics: { co2_ppm: 612, temperature_c: 21.5, humidity_pct: 40.25, occupancy: true } }],
    ["a numeric device time and string metrics", { ts: 1764151200, metrics: { occupancy: "1", firmware: "1.2.3" } }],
    ["no device time", { metrics: { co2_ppm: 400 } }],
    ["no metrics", { ts: "2026-11-26T10:00:00Z" }],
    [
      "nested metrics and extra payload fields (dropped by the SQL)",
      { ts: "t", metrics: { co2_ppm: 1, nested: { a: [1, 2] } }, secret: "x", thingName: "OTHER" },
    ],
  ])("the warm-store line of %s is the store rule's Firehose record", (_name, payload) => {
    // GIVEN the message through the hot table
    const { stored, reading, skipped } = throughTheHotTable(payload);
    expect(skipped).toEqual([]);
    // THEN the consumer's line is the JSON the Firehose action wrote, with its "\n" separator
    expect(warmLine(reading)).toBe(`${JSON.stringify(stored)}\n`);
  });
});

describe("PutRecordBatch packing", () => {
  const lines = Array.from({ length: 300 }, (_, i) => `${JSON.stringify({ thingName: THING, ts: i, metrics: { co2_ppm: i } })}\n`);

  test("packs lines in order into records within the size, never splitting a line", () => {
    const records = packWarmRecords(lines, 1000);
    expect(records.length).toBeGreaterThan(1);
    expect(records.every((r) => r.data.length <= 1000)).toBe(true);
    expect(Buffer.concat(records.map((r) => r.data)).toString("utf8")).toBe(lines.join(""));
    for (const r of records) expect(r.data.toString("utf8")).toBe(lines.slice(r.start, r.end).join(""));
    expect(records.map((r) => [r.start, r.end]).flat()).toEqual([0, ...records.slice(1).flatMap((r) => [r.start, r.start]), 300]);
  });

  test("a 1000-reading batch of ordinary readings is one record", () => {
    const many = Array.from({ length: 1000 }, (_, i) =>
      warmLine({ thingName: THING, ts: ARRIVAL + i, deviceTs: "2026-11-26T10:00:00Z", metrics: { co2_ppm: 612, temperature_c: 21.5 }, expiresAt: 1 }),
    );
    expect(packWarmRecords(many)).toHaveLength(1);
  });

  test("groups records into calls of at most 500 records and 4 MiB of base64", () => {
    const small = Array.from({ length: 1200 }, (_, i) => ({ start: i, end: i + 1, data: Buffer.from("x\n") }));
    expect(groupIntoCalls(small).map((c) => c.length)).toEqual([500, 500, 200]);
    const big = Array.from({ length: 7 }, (_, i) => ({ start: i, end: i + 1, data: Buffer.alloc(FIREHOSE_LIMITS.recordBytes, 0x61) }));
    const calls = groupIntoCalls(big);
    for (const call of calls) expect(call.reduce((n, r) => n + Math.ceil(r.data.length / 3) * 4, 0)).toBeLessThanOrEqual(FIREHOSE_LIMITS.requestBytes);
    expect(calls.flat()).toEqual(big);
  });
});

describe("building cache", () => {
  test("remembers a building, and a device without one, for its time to live only", () => {
    let now = 0;
    const cache = new BuildingCache(60_000, () => now);
    cache.set("SN-A", "bld-1");
    cache.set("SN-B", undefined);
    expect([cache.get("SN-A"), cache.get("SN-B"), cache.get("SN-C")]).toEqual(["bld-1", undefined, null]);
    now = 60_000;
    expect([cache.get("SN-A"), cache.get("SN-B")]).toEqual([null, null]);
  });
});

describe("the alert handler's Invoke", () => {
  let aws: StandIn;
  const saved = { ...process.env };
  beforeEach(async () => {
    aws = await startStandIn();
    Object.assign(process.env, FAKE_AWS_ENV, { AWS_SESSION_TOKEN: "session-token-of-the-role", AWS_ENDPOINT_URL_LAMBDA: aws.endpoint });
  });
  afterEach(async () => {
    process.env = { ...saved };
    await aws.stop();
  });

  test.each([
    ["a function name", "shf-test-alert-handler"],
    ["a function ARN", "arn:aws:lambda:eu-west-1:123456789012:function:shf-test-alert-handler"],
  ])("with %s: an asynchronous (Event) Invoke of that function, signed with the role's session token", async (_name, functionName) => {
    const payload = Buffer.from(JSON.stringify({ code: "TELEMETRY_THRESHOLD.co2_ppm", message: "x", thingName: THING, receivedAt: ARRIVAL }));
    await createEventInvoker()(functionName, payload);
    const [request] = aws.of("lambda");
    expect(request).toMatchObject({ method: "POST", path: `/2015-03-31/functions/${encodeURIComponent(functionName)}/invocations` });
    expect(request!.headers["x-amz-invocation-type"]).toBe("Event");
    expect(request!.headers["x-amz-security-token"]).toBe("session-token-of-the-role");
    expect(String(request!.headers.authorization)).toMatch(/^AWS4-HMAC-SHA256 Credential=[^/]+\/\d{8}\/eu-west-1\/lambda\/aws4_request/);
    expect(request!.body.toString("utf8")).toBe(payload.toString("utf8"));
  });

  test("fails after its attempts when Lambda throttles, naming Lambda's error", async () => {
    aws.respond("lambda", () => ({
      status: 429,
      headers: { "x-amzn-errortype": "TooManyRequestsException:http://internal" },
      body: { message: "Rate exceeded" },
    }));
    await expect(createEventInvoker({ maxAttempts: 2 })("f", Buffer.from("{}"))).rejects.toMatchObject({ name: "TooManyRequestsException" });
    expect(aws.of("lambda")).toHaveLength(2);
  });

  test("fails at once, without retrying, when the function does not exist (404)", async () => {
    aws.respond("lambda", () => ({ status: 404, headers: { "x-amzn-errortype": "ResourceNotFoundException" }, body: { Message: "Function not found" } }));
    await expect(createEventInvoker()("missing", Buffer.from("{}"))).rejects.toMatchObject({ name: "ResourceNotFoundException" });
    expect(aws.of("lambda")).toHaveLength(1);
  });
});
