import { mockClient, type AwsStub } from "aws-sdk-client-mock";
import { startDynalite, type RunningDynalite } from "../support/dynalite";
import { captureStdout, closedPortEndpoint, getItem, putItem, registeredDevice, uniqueSerial } from "./helpers";
import { TELEMETRY_TABLES, createTelemetryTables, loadWith } from "./telemetry-helpers";

type BroadcastModule = typeof import("../../functions/telemetry-broadcast");
type ManagementModule = typeof import("@aws-sdk/client-apigatewaymanagementapi");
const BROADCAST = "../../functions/telemetry-broadcast";
const MANAGEMENT = "@aws-sdk/client-apigatewaymanagementapi";

let db: RunningDynalite;
let handler: BroadcastModule["handler"];
let management: ManagementModule;
let apiMock: AwsStub<any, any, any>;
let logs: ReturnType<typeof captureStdout>;
let counter = 0;

const env = () => ({
  WEBSOCKET_CALLBACK_URL: "https://abcdef1234.execute-api.eu-west-1.amazonaws.com/live",
  REGISTRY_TABLE_NAME: db.registryTableName,
  CONNECTIONS_TABLE_NAME: TELEMETRY_TABLES.connections,
  TELEMETRY_LATEST_TABLE_NAME: TELEMETRY_TABLES.latest,
  TELEMETRY_ROLLUP_TABLE_NAME: TELEMETRY_TABLES.rollup,
  LATEST_TTL_SECONDS: "7776000",
  ENVIRONMENT: "test",
  AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
});

const uniqueBuilding = () => `bld-${Date.now().toString(36)}-${counter++}`;

async function deviceIn(buildingId: string | undefined): Promise<string> {
  const serial = uniqueSerial("TB");
  await putItem(
    db.client,
    db.registryTableName,
    registeredDevice(serial, { status: "PROVISIONED", ...(buildingId ? { metadata: { buildingId, room: "2.14" } } : {}) }),
  );
  return serial;
}

async function follow(buildingId: string, ...connectionIds: string[]): Promise<void> {
  for (const connectionId of connectionIds) {
    await putItem(db.client, TELEMETRY_TABLES.connections, { buildingId, connectionId, expiresAt: Math.floor(Date.now() / 1000) + 3600 });
  }
}

const reading = (thingName: string, overrides: Record<string, unknown> = {}) => ({
  thingName,
  ts: Date.now(),
  deviceTs: "2026-11-22T10:00:00.000Z",
  metrics: { co2_ppm: 612, temperature_c: 21.5 },
  ...overrides,
});

const posts = () => apiMock.commandCalls(management.PostToConnectionCommand).map((c) => c.args[0].input as { ConnectionId: string; Data: Uint8Array });
const connectionRow = (buildingId: string, connectionId: string) => getItem(db.client, TELEMETRY_TABLES.connections, { buildingId, connectionId });

beforeAll(async () => {
  db = await startDynalite();
  await createTelemetryTables(db.client);
  const loaded = loadWith<BroadcastModule>(BROADCAST, env(), [MANAGEMENT]);
  handler = loaded.mod.handler;
  management = loaded.extra[MANAGEMENT] as ManagementModule;
  apiMock = mockClient(management.ApiGatewayManagementApiClient);
});
afterAll(async () => {
  apiMock.restore();
  await db.stop();
});
beforeEach(() => {
  apiMock.reset();
  apiMock.on(management.PostToConnectionCommand).resolves({});
  logs = captureStdout();
});
afterEach(() => logs.restore());

describe("telemetry broadcast", () => {
  test("posts the reading to every connection following the device's building, and to no other", async () => {
    // GIVEN a device in one building, two connections following it and one following another building
    const building = uniqueBuilding();
    const other = uniqueBuilding();
    const thing = await deviceIn(building);
    await follow(building, "connA=", "connB=");
    await follow(other, "connC=");
    // WHEN the device reports
    const result = await handler(reading(thing));
    // THEN both followers of its building get it, the other building's follower does not
    expect(result).toEqual({ status: "broadcast", delivered: 2, gone: 0, failed: 0 });
    expect(
      posts()
        .map((p) => p.ConnectionId)
        .sort(),
    ).toEqual(["connA=", "connB="]);
  });

  test("sends the reading as one JSON message with its building", async () => {
    // GIVEN a follower of the device's building
    const building = uniqueBuilding();
    const thing = await deviceIn(building);
    await follow(building, "connD=");
    const event = reading(thing);
    // WHEN the device reports
    await handler(event);
    // THEN the message carries the thing, building, arrival time, device time and metrics
    expect(JSON.parse(Buffer.from(posts()[0].Data).toString("utf8"))).toEqual({
      type: "telemetry",
      buildingId: building,
      thingName: thing,
      ts: event.ts,
      deviceTs: "2026-11-22T10:00:00.000Z",
      metrics: { co2_ppm: 612, temperature_c: 21.5 },
    });
  });

  test("removes a connection API Gateway reports as gone (410) and keeps the others", async () => {
    // GIVEN two followers, one of which has gone away without $disconnect
    const building = uniqueBuilding();
    const thing = await deviceIn(building);
    await follow(building, "gone1=", "live1=");
    apiMock
      .on(management.PostToConnectionCommand, { ConnectionId: "gone1=" })
      .rejects(new management.GoneException({ message: "Gone", $metadata: { httpStatusCode: 410 } }));
    // WHEN the device reports
    const result = await handler(reading(thing));
    // THEN the gone connection's row is deleted, the live one is kept
    expect(result).toMatchObject({ delivered: 1, gone: 1, failed: 0 });
    expect(await connectionRow(building, "gone1=")).toBeUndefined();
    expect(await connectionRow(building, "live1=")).toBeDefined();
  });

  test("counts a post that fails otherwise, keeps its row and does not fail the invocation", async () => {
    // GIVEN a follower whose post fails with a server error
    const building = uniqueBuilding();
    const thing = await deviceIn(building);
    await follow(building, "flaky1=", "fine1=");
    apiMock
      .on(management.PostToConnectionCommand, { ConnectionId: "flaky1=" })
      .rejects(Object.assign(new Error("Internal"), { name: "InternalServerError", $metadata: { httpStatusCode: 500 } }));
    // WHEN the device reports
    const result = await handler(reading(thing));
    // THEN the failure is counted, the other follower still gets it, the row stays
    expect(result).toMatchObject({ delivered: 1, gone: 0, failed: 1 });
    expect(await connectionRow(building, "flaky1=")).toBeDefined();
  });

  test("keeps the building's latest reading of the device", async () => {
    // GIVEN a device in a building
    const building = uniqueBuilding();
    const thing = await deviceIn(building);
    const event = reading(thing);
    // WHEN it reports
    await handler(event);
    // THEN the latest-reading row holds it, expiring with the hot store
    const row = await getItem(db.client, TELEMETRY_TABLES.latest, { buildingId: building, thingName: thing });
    expect(row).toMatchObject({ ts: event.ts, metrics: event.metrics, expiresAt: Math.floor(event.ts / 1000) + 7776000 });
  });

  test("never lets an older reading overwrite a newer latest reading", async () => {
    // GIVEN a device whose newer reading arrived first
    const building = uniqueBuilding();
    const thing = await deviceIn(building);
    const newer = reading(thing, { ts: 2_000_000_000_000, metrics: { co2_ppm: 900 } });
    const older = reading(thing, { ts: 1_999_999_999_000, metrics: { co2_ppm: 400 } });
    await handler(newer);
    // WHEN the older one is processed late
    await handler(older);
    // THEN the row still holds the newer reading
    expect(await getItem(db.client, TELEMETRY_TABLES.latest, { buildingId: building, thingName: thing })).toMatchObject({
      ts: newer.ts,
      metrics: { co2_ppm: 900 },
    });
  });

  test.each([
    ["the device has no building", async () => deviceIn(undefined)],
    ["the device is not in the registry", async () => uniqueSerial("UNKNOWN")],
    [
      "the device's building id is malformed",
      async () => {
        const serial = uniqueSerial("TB");
        await putItem(db.client, db.registryTableName, registeredDevice(serial, { metadata: { buildingId: "../everything" } }));
        return serial;
      },
    ],
  ])("posts nothing when %s", async (_name, makeDevice) => {
    // GIVEN a device without a (valid) building, and followers elsewhere
    const thing = await makeDevice();
    await follow(uniqueBuilding(), "elsewhere1=");
    // WHEN it reports THEN nobody is told
    expect(await handler(reading(thing))).toEqual({ status: "no-building" });
    expect(posts()).toEqual([]);
  });

  test.each([
    ["thingName is missing", { thingName: undefined }],
    ["thingName is not a serial number", { thingName: "../x" }],
    ["ts is a string", { ts: "2026-11-22T10:00:00Z" }],
    ["ts is negative", { ts: -1 }],
    ["ts is not whole", { ts: 1.5 }],
    ["metrics is an array", { metrics: [1, 2] }],
    ["deviceTs is an object", { deviceTs: { at: 1 } }],
  ])("fails when %s: the event is dropped, nothing is posted", async (_name, overrides) => {
    // GIVEN a follower of a real device's building
    const building = uniqueBuilding();
    const thing = await deviceIn(building);
    await follow(building, "conn1=");
    // WHEN a malformed event arrives
    const result = await handler(reading(thing, overrides));
    // THEN it is dropped without posting
    expect(result).toEqual({ status: "dropped" });
    expect(posts()).toEqual([]);
  });

  test("adds every reading to the device's hourly rollup, with or without a building; a retried invocation counts once", async () => {
    // GIVEN a device in a building with a follower and a device in none
    const building = uniqueBuilding();
    const placed = await deviceIn(building);
    const loose = await deviceIn(undefined);
    await follow(building, "conn-rollup");
    const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
    // WHEN each sends a reading, and Lambda retries the placed device's invocation
    const first = reading(placed, { ts: hour + 1, metrics: { co2_ppm: 700, occupancy: true, firmware: "1.0" } });
    expect(await handler(first)).toMatchObject({ status: "broadcast", delivered: 1 });
    expect(await handler(first)).toMatchObject({ status: "broadcast" });
    expect(await handler(reading(loose, { ts: hour + 2, metrics: { co2_ppm: 650 } }))).toEqual({ status: "no-building" });
    // THEN both rollups hold their reading once (the string metric is not rolled up)
    const rolled = async (thingName: string) => {
      const item = await getItem(db.client, TELEMETRY_TABLES.rollup, { thingName, hour });
      return { metrics: JSON.parse(String(item?.metrics)), version: item?.version };
    };
    expect(await rolled(placed)).toEqual({
      metrics: { co2_ppm: { n: { count: 1, sum: 700, min: 700, max: 700, first: hour + 1 } }, occupancy: { b: { count: 1, trues: 1, first: hour + 1 } } },
      version: 1,
    });
    expect(await rolled(loose)).toEqual({ metrics: { co2_ppm: { n: { count: 1, sum: 650, min: 650, max: 650, first: hour + 2 } } }, version: 1 });
  });

  test("fails when the registry cannot be read: the invocation throws so Lambda retries it", async () => {
    // GIVEN the function pointed at a DynamoDB endpoint that refuses connections
    const endpoint = await closedPortEndpoint();
    const broken = loadWith<BroadcastModule>(BROADCAST, { ...env(), AWS_ENDPOINT_URL_DYNAMODB: endpoint }, [MANAGEMENT]).mod;
    try {
      // WHEN a reading arrives THEN the invocation fails
      await expect(broken.handler(reading(uniqueSerial("TB")))).rejects.toThrow();
    } finally {
      // The SDK reads the endpoint variable when it first sends.
      process.env.AWS_ENDPOINT_URL_DYNAMODB = db.endpoint;
    }
  });

  test("fails when the callback URL is not configured: the invocation fails, naming it", async () => {
    const broken = loadWith<BroadcastModule>(BROADCAST, { ...env(), WEBSOCKET_CALLBACK_URL: undefined }, [MANAGEMENT]).mod;
    process.env.WEBSOCKET_CALLBACK_URL = env().WEBSOCKET_CALLBACK_URL;
    await expect(broken.handler(reading(uniqueSerial("TB")))).rejects.toThrow(/WEBSOCKET_CALLBACK_URL/);
  });
});
