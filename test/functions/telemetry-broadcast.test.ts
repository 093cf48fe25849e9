/**
 * The hot table's stream consumer, end to end: the real handler against dynalite (registry and
 * connections) and a recording stand-in for Firehose, Lambda Invoke and the @connections API.
 */
import { startDynalite, type RunningDynalite } from "../support/dynalite";
import { captureStdout, closedPortEndpoint, getItem, putItem, registeredDevice, uniqueSerial } from "./helpers";
import { firehoseLines, hotItem, startCountingProxy, startStandIn, streamRecord, type StandIn } from "./stream-consumer-helpers";
import { TELEMETRY_TABLES, createTelemetryTables, loadWith } from "./telemetry-helpers";

type ConsumerModule = typeof import("../../functions/telemetry-broadcast");
const CONSUMER = "../../functions/telemetry-broadcast";
const STREAM = "shf-test-telemetry";
const ALERT_FUNCTION = "shf-test-alert-handler";
const THRESHOLDS = [{ metric: "co2_ppm", operator: ">", value: 1500 }];

let db: RunningDynalite;
let aws: StandIn;
let logs: ReturnType<typeof captureStdout>;
let counter = 0;
const ENV_KEYS = ["AWS_ENDPOINT_URL_FIREHOSE", "AWS_ENDPOINT_URL_LAMBDA", "TELEMETRY_THRESHOLDS"];

const env = (overrides: Record<string, string | undefined> = {}) => ({
  WEBSOCKET_CALLBACK_URL: `${aws.endpoint}/live`,
  REGISTRY_TABLE_NAME: db.registryTableName,
  CONNECTIONS_TABLE_NAME: TELEMETRY_TABLES.connections,
  WARM_STORE_DELIVERY_STREAM: STREAM,
  ALERT_FUNCTION_NAME: ALERT_FUNCTION,
  TELEMETRY_THRESHOLDS: JSON.stringify(THRESHOLDS),
  ENVIRONMENT: "test",
  AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
  AWS_ENDPOINT_URL_FIREHOSE: aws.endpoint,
  AWS_ENDPOINT_URL_LAMBDA: aws.endpoint,
  ...overrides,
});
const load = (overrides: Record<string, string | undefined> = {}) => loadWith<ConsumerModule>(CONSUMER, env(overrides)).mod.handler;
const uniqueBuilding = () => `bld-${Date.now().toString(36)}-${counter++}`;

async function deviceIn(buildingId: string | undefined): Promise<string> {
  const serial = uniqueSerial("SC");
  await putItem(db.client, db.registryTableName, registeredDevice(serial, { status: "PROVISIONED", ...(buildingId ? { metadata: { buildingId } } : {}) }));
  return serial;
}
async function follow(buildingId: string, ...connectionIds: string[]): Promise<void> {
  for (const connectionId of connectionIds) await putItem(db.client, TELEMETRY_TABLES.connections, { buildingId, connectionId, expiresAt: 4_000_000_000 });
}
const event = (...records: unknown[]) => ({ Records: records });
const seqOf = (record: { dynamodb: { SequenceNumber?: string } }) => record.dynamodb.SequenceNumber!;
const invocations = () =>
  aws.of("lambda").map((r) => ({ path: r.path, type: r.headers["x-amz-invocation-type"], payload: JSON.parse(r.body.toString("utf8")) as unknown }));
const posted = () =>
  aws.of("connections").map((r) => ({ connection: decodeURIComponent(r.path.split("/").pop()!), body: JSON.parse(r.body.toString("utf8")) }));

beforeAll(async () => {
  db = await startDynalite();
  await createTelemetryTables(db.client);
});
afterAll(async () => {
  for (const key of ENV_KEYS) delete process.env[key];
  await db.stop();
});
beforeEach(async () => {
  aws = await startStandIn();
  logs = captureStdout();
});
afterEach(async () => {
  logs.restore();
  await aws.stop();
});

describe("telemetry stream consumer", () => {
  test("forwards the batch to the warm store in one record of JSON lines, exactly the store rule's fields", async () => {
    // GIVEN two readings of a device, one without deviceTs and metrics
    const thing = await deviceIn(undefined);
    const a = hotItem(thing, 1_764_151_200_000, { co2_ppm: 612, temperature_c: 21.5, occupancy: true });
    const b = { thingName: thing, ts: 1_764_151_260_000, expiresAt: 1_771_927_260 };
    // WHEN the batch arrives
    const result = await load()(event(streamRecord(a), streamRecord(b)));
    // THEN one PutRecordBatch call carries one record holding both lines, each "\n"-terminated
    expect(result).toEqual({ batchItemFailures: [] });
    const [call] = aws.of("firehose");
    expect(aws.of("firehose")).toHaveLength(1);
    expect(call.headers["x-amz-target"]).toBe("Firehose_20150804.PutRecordBatch");
    const sent = firehoseLines(call);
    expect(sent.stream).toBe(STREAM);
    expect(sent.records).toEqual([`${JSON.stringify(a)}\n${JSON.stringify(b)}\n`]);
  });

  test("invokes the alert handler asynchronously with the threshold rule's payload, once per crossing", async () => {
    // GIVEN readings above, at and below the threshold, a numeric string above it, and non-numbers
    const thing = await deviceIn(undefined);
    const ts = 1_764_151_200_000;
    const readings = [
      hotItem(thing, ts, { co2_ppm: 1600 }),
      hotItem(thing, ts + 1, { co2_ppm: 1500 }),
      hotItem(thing, ts + 2, { co2_ppm: "1800.5" }),
      hotItem(thing, ts + 3, { co2_ppm: true }),
      hotItem(thing, ts + 4, { co2_ppm: "high" }),
      hotItem(thing, ts + 5, { co2_ppm: { value: 2000 } }),
      hotItem(thing, ts + 6, { temperature_c: 30 }),
      hotItem(thing, ts + 7, undefined),
    ];
    // WHEN they arrive
    expect(await load()(event(...readings.map((r) => streamRecord(r))))).toEqual({ batchItemFailures: [] });
    // THEN the number and the numeric string fire, Event invocations of the alert handler with the rule's payload
    expect(invocations()).toEqual([
      {
        path: `/2015-03-31/functions/${ALERT_FUNCTION}/invocations`,
        type: "Event",
        payload: { code: "TELEMETRY_THRESHOLD.co2_ppm", message: "co2_ppm is 1600, above the threshold of 1500", thingName: thing, receivedAt: ts },
      },
      {
        path: `/2015-03-31/functions/${ALERT_FUNCTION}/invocations`,
        type: "Event",
        payload: { code: "TELEMETRY_THRESHOLD.co2_ppm", message: "co2_ppm is 1800.5, above the threshold of 1500", thingName: thing, receivedAt: ts + 2 },
      },
    ]);
    expect(aws.of("lambda")[0].headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE\/\d{8}\/eu-west-1\/lambda\/aws4_request/);
  });

  test("posts each reading to the connections following the device's building, and to no other", async () => {
    // GIVEN a device in a building with two followers, another building with one
    const building = uniqueBuilding();
    const thing = await deviceIn(building);
    await follow(building, "connA=", "connB=");
    await follow(uniqueBuilding(), "connC=");
    const reading = hotItem(thing, 1_764_151_200_000, { co2_ppm: 612 });
    // WHEN its reading arrives
    await load()(event(streamRecord(reading)));
    // THEN both followers get the dashboard's message, nobody else
    const message = { type: "telemetry", buildingId: building, thingName: thing, ts: reading.ts, deviceTs: reading.deviceTs, metrics: { co2_ppm: 612 } };
    expect(posted().sort((x, y) => x.connection.localeCompare(y.connection))).toEqual([
      { connection: "connA=", body: message },
      { connection: "connB=", body: message },
    ]);
  });

  test("stores and checks a reading from an unregistered device, and posts it nowhere", async () => {
    // GIVEN a thing the registry does not know, above the threshold
    const reading = hotItem(uniqueSerial("GHOST"), 1_764_151_200_000, { co2_ppm: 5000 });
    await follow(uniqueBuilding(), "elsewhere=");
    // WHEN it arrives THEN it is stored and alerted on, never posted, and the batch succeeds
    expect(await load()(event(streamRecord(reading)))).toEqual({ batchItemFailures: [] });
    expect(firehoseLines(aws.of("firehose")[0]).lines).toEqual([reading]);
    expect(invocations()).toHaveLength(1);
    expect(posted()).toEqual([]);
  });

  test("skips and logs malformed records and records that are not INSERTs, never failing the batch", async () => {
    // GIVEN a good reading between hostile records
    const thing = await deviceIn(undefined);
    const good = hotItem(thing, 1_764_151_200_000, { co2_ppm: 700 });
    const records = [
      streamRecord(hotItem("../x", 1, {})),
      streamRecord({ ...good, ts: "yesterday" }),
      streamRecord({ ...good, metrics: [1, 2] }),
      streamRecord({ ...good, deviceTs: { at: 1 } }),
      streamRecord(good, { newImage: "not an image" }),
      streamRecord(good, { newImage: { thingName: { Q: "bad type" } } }),
      streamRecord(good, { sequenceNumber: null }),
      streamRecord(good, { eventName: "MODIFY" }),
      streamRecord(good),
    ];
    // WHEN the batch arrives
    expect(await load()(event(...records))).toEqual({ batchItemFailures: [] });
    // THEN only the good reading is forwarded, and each malformed record is logged
    expect(firehoseLines(aws.of("firehose")[0]).lines).toEqual([good]);
    expect(logs.lines().filter((l) => l.message === "malformed stream record skipped")).toHaveLength(7);
  });

  test("sends again the records Firehose reported as failed, and succeeds", async () => {
    // GIVEN Firehose failing the first attempt's records, then accepting them
    const thing = await deviceIn(undefined);
    aws.respond("firehose", (_req, nth) =>
      nth === 1
        ? { status: 200, body: { FailedPutCount: 1, RequestResponses: [{ ErrorCode: "ServiceUnavailableException", ErrorMessage: "Slow down." }] } }
        : undefined,
    );
    const reading = hotItem(thing, 1_764_151_200_000, { co2_ppm: 650 });
    // WHEN a batch arrives
    const result = await load()(event(streamRecord(reading)));
    // THEN the record went twice, the batch succeeded
    expect(result).toEqual({ batchItemFailures: [] });
    expect(aws.of("firehose").map((r) => firehoseLines(r).lines)).toEqual([[reading], [reading]]);
  });

  test("fails when Firehose keeps failing: every record is reported, nothing is alerted or posted", async () => {
    // GIVEN Firehose answering 500 to every call, a follower and a reading above the threshold
    const building = uniqueBuilding();
    const thing = await deviceIn(building);
    await follow(building, "conn-down=");
    aws.respond("firehose", () => ({ status: 500, headers: { "x-amzn-errortype": "ServiceUnavailableException" }, body: { message: "down" } }));
    const records = [1, 2, 3].map((i) => streamRecord(hotItem(thing, 1_764_151_200_000 + i, { co2_ppm: 9000 })));
    // WHEN the batch arrives
    const result = await load()(event(...records));
    // THEN the first record and every later one are reported (the SDK tried 3 times), the later steps did nothing
    expect(result).toEqual({ batchItemFailures: records.map((r) => ({ itemIdentifier: seqOf(r) })) });
    expect(aws.of("firehose")).toHaveLength(3);
    expect(invocations()).toEqual([]);
    expect(posted()).toEqual([]);
  });

  test("fails from the record whose alert Lambda keeps throttling (429); earlier records are done, later ones wait", async () => {
    // GIVEN Invoke throttled, a follower, and three readings of which the second crosses the threshold
    const building = uniqueBuilding();
    const thing = await deviceIn(building);
    await follow(building, "conn-throttle=");
    aws.respond("lambda", () => ({
      status: 429,
      headers: { "x-amzn-errortype": "TooManyRequestsException" },
      body: { message: "Rate exceeded", Reason: "ReservedFunctionConcurrentInvocationLimitExceeded" },
    }));
    const records = [600, 2000, 700].map((co2, i) => streamRecord(hotItem(thing, 1_764_151_200_000 + i, { co2_ppm: co2 })));
    // WHEN the batch arrives
    const result = await load()(event(...records));
    // THEN the second and third are reported; only the first was posted; the invoke was tried 3 times
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: seqOf(records[1]) }, { itemIdentifier: seqOf(records[2]) }] });
    expect(aws.of("lambda")).toHaveLength(3);
    expect(posted().map((p) => p.body.ts)).toEqual([1_764_151_200_000]);
    expect(logs.lines().find((l) => String(l.message).startsWith("batch partly failed"))).toMatchObject({
      step: "thresholds",
      error: expect.stringMatching(/TooManyRequestsException/),
    });
  });

  test("removes a connection API Gateway reports as gone (410), posts it nothing more, keeps the others", async () => {
    // GIVEN two followers, one gone without $disconnect, and two readings
    const building = uniqueBuilding();
    const thing = await deviceIn(building);
    await follow(building, "gone1=", "live1=");
    aws.respond("connections", (req) =>
      decodeURIComponent(req.path).endsWith("gone1=")
        ? { status: 410, headers: { "x-amzn-errortype": "GoneException" }, body: { message: "Gone" } }
        : undefined,
    );
    const records = [1, 2].map((i) => streamRecord(hotItem(thing, 1_764_151_200_000 + i, { co2_ppm: 500 })));
    // WHEN the batch arrives
    expect(await load()(event(...records))).toEqual({ batchItemFailures: [] });
    // THEN the live follower got both readings, the gone one was tried at most twice, and its row is deleted
    expect(posted().filter((p) => p.connection === "live1=")).toHaveLength(2);
    expect(posted().filter((p) => p.connection === "gone1=").length).toBeGreaterThanOrEqual(1);
    expect(posted().filter((p) => p.connection === "gone1=").length).toBeLessThanOrEqual(2);
    expect(await getItem(db.client, TELEMETRY_TABLES.connections, { buildingId: building, connectionId: "gone1=" })).toBeUndefined();
    expect(await getItem(db.client, TELEMETRY_TABLES.connections, { buildingId: building, connectionId: "live1=" })).toBeDefined();
  });

  test("logs a post that fails otherwise and never retries it or fails the batch", async () => {
    const building = uniqueBuilding();
    const thing = await deviceIn(building);
    await follow(building, "flaky=");
    aws.respond("connections", () => ({ status: 400, headers: { "x-amzn-errortype": "BadRequestException" }, body: { message: "bad" } }));
    expect(await load()(event(streamRecord(hotItem(thing, 1_764_151_200_000, { co2_ppm: 500 }))))).toEqual({ batchItemFailures: [] });
    expect(posted()).toHaveLength(1);
    expect(logs.lines().find((l) => l.message === "live updates incomplete")).toMatchObject({ failedPosts: 1 });
  });

  test("stores and alerts a batch whose registry cannot be read, posts nothing and does not fail it", async () => {
    // GIVEN DynamoDB refusing connections, and a reading above the threshold
    const handler = load({ AWS_ENDPOINT_URL_DYNAMODB: await closedPortEndpoint() });
    const reading = hotItem(uniqueSerial("SC"), 1_764_151_200_000, { co2_ppm: 4000 });
    // WHEN it arrives
    expect(await handler(event(streamRecord(reading)))).toEqual({ batchItemFailures: [] });
    // THEN the warm store and the alert handler got it, and the failed lookup is logged
    expect(firehoseLines(aws.of("firehose")[0]).lines).toEqual([reading]);
    expect(invocations()).toHaveLength(1);
    expect(posted()).toEqual([]);
    expect(logs.lines().find((l) => l.message === "live updates incomplete")).toMatchObject({ errors: [expect.stringMatching(/^registry: /)] });
  });

  test("stops posting at the invocation's deadline and still answers success for a stored batch", async () => {
    // GIVEN a follower whose posts hang, and an invocation with 5.3 s left (posts stop 5 s before the end)
    const building = uniqueBuilding();
    const thing = await deviceIn(building);
    await follow(building, "slow=");
    aws.respond("connections", () => ({ status: 200, delayMs: 5000 }));
    const records = [1, 2, 3].map((i) => streamRecord(hotItem(thing, 1_764_151_200_000 + i, { co2_ppm: 500 })));
    const context = { awsRequestId: "req-deadline", getRemainingTimeInMillis: () => 5300 };
    // WHEN the batch arrives
    const result = await load()(event(...records), context);
    // THEN the readings are stored, the hanging posts were cut off (none delivered), and no record fails
    expect(result).toEqual({ batchItemFailures: [] });
    expect(aws.of("firehose")).toHaveLength(1);
    expect(logs.lines().find((l) => l.message === "batch consumed")).toMatchObject({ delivered: 0, skippedPosts: 3, failedPosts: 0 });
  });

  test("a 1000-record batch: one Firehose call, one registry read per 100 devices, one query per building, cached buildings next time", async () => {
    // GIVEN 150 devices in 3 buildings with one follower each, 1000 readings, 10 of them above the threshold
    const proxy = await startCountingProxy(db.endpoint);
    try {
      const buildings = [uniqueBuilding(), uniqueBuilding(), uniqueBuilding()];
      for (const [i, b] of buildings.entries()) await follow(b, `big-${i}=`);
      const things: string[] = [];
      for (let d = 0; d < 150; d++) things.push(await deviceIn(buildings[d % 3]));
      const batch = (base: number) =>
        Array.from({ length: 1000 }, (_, i) => streamRecord(hotItem(things[i % 150], base + i, { co2_ppm: i % 100 === 0 ? 2000 : 600, temperature_c: 21.5 })));
      const handler = load({ AWS_ENDPOINT_URL_DYNAMODB: proxy.endpoint });
      // WHEN the batch arrives
      expect(await handler(event(...batch(1_764_151_200_000)))).toEqual({ batchItemFailures: [] });
      // THEN the calls are counted per batch, not per reading
      expect(aws.of("firehose")).toHaveLength(1);
      expect(firehoseLines(aws.of("firehose")[0])).toMatchObject({ records: [expect.any(String)] });
      expect(firehoseLines(aws.of("firehose")[0]).lines).toHaveLength(1000);
      expect(aws.of("lambda")).toHaveLength(10);
      expect(proxy.operations.filter((o) => o === "BatchGetItem")).toHaveLength(2);
      expect(proxy.operations.filter((o) => o === "Query")).toHaveLength(3);
      expect(posted()).toHaveLength(1000);
      // AND a second batch within the minute reads no registry
      proxy.operations.length = 0;
      expect(await handler(event(...batch(1_764_151_300_000)))).toEqual({ batchItemFailures: [] });
      expect(proxy.operations.filter((o) => o === "BatchGetItem")).toHaveLength(0);
    } finally {
      await proxy.stop();
    }
  }, 60_000);

  test.each([
    ["not JSON", "co2 > 1500"],
    ["an unknown operator", JSON.stringify([{ metric: "co2_ppm", operator: "!=", value: 1 }])],
    ["a metric with a dot", JSON.stringify([{ metric: "co2.ppm", operator: ">", value: 1 }])],
    ["a string value", JSON.stringify([{ metric: "co2_ppm", operator: ">", value: "1500" }])],
  ])("fails every invocation when TELEMETRY_THRESHOLDS is %s, naming the variable", async (_name, thresholds) => {
    const handler = load({ TELEMETRY_THRESHOLDS: thresholds });
    await expect(handler(event())).rejects.toThrow(/TELEMETRY_THRESHOLDS/);
    await expect(handler(event())).rejects.toThrow(/TELEMETRY_THRESHOLDS/);
    expect(aws.requests).toEqual([]);
  });

  test("answers an event without Records with no failures and no calls", async () => {
    expect(await load()({})).toEqual({ batchItemFailures: [] });
    expect(aws.requests).toEqual([]);
  });
});
