import type { APIGatewayProxyEventV2WithJWTAuthorizer } from "aws-lambda";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { scanBuildingDevices } from "../../functions/telemetry-api/building-devices";
import { startDynalite, type RunningDynalite } from "../support/dynalite";
import { captureStdout, closedPortEndpoint, putItem, registeredDevice, uniqueSerial } from "./helpers";
import { TELEMETRY_TABLES, createTelemetryTables, loadWith } from "./telemetry-helpers";

type ApiModule = typeof import("../../functions/telemetry-api");
const API = "../../functions/telemetry-api";
const HOUR = 3600 * 1000;

let db: RunningDynalite;
let handler: ApiModule["handler"];
let logs: ReturnType<typeof captureStdout>;
let counter = 0;

const env = () => ({
  TELEMETRY_TABLE_NAME: TELEMETRY_TABLES.telemetry,
  TELEMETRY_ROLLUP_TABLE_NAME: TELEMETRY_TABLES.rollup,
  REGISTRY_TABLE_NAME: db.registryTableName,
  ENVIRONMENT: "test",
  AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
});

const uniqueBuilding = () => `b${Date.now().toString(36)}${counter++}`;

/** The event API Gateway sends after its JWT authorizer accepted the token; groups as HTTP APIs flatten them. */
function request(
  routeKey: string,
  options: { groups?: string; path?: Record<string, string>; query?: Record<string, string> } = {},
): APIGatewayProxyEventV2WithJWTAuthorizer {
  const claims: Record<string, string> = { sub: "user-1", token_use: "access" };
  if (options.groups !== undefined) claims["cognito:groups"] = options.groups;
  return {
    version: "2.0",
    routeKey,
    rawPath: "/",
    rawQueryString: "",
    headers: {},
    pathParameters: options.path,
    queryStringParameters: options.query,
    isBase64Encoded: false,
    requestContext: { routeKey, authorizer: { jwt: { claims, scopes: null } } },
  } as unknown as APIGatewayProxyEventV2WithJWTAuthorizer;
}

const telemetryOf = (thingName: string, groups: string, query: Record<string, string> = {}) =>
  request("GET /devices/{thingName}/telemetry", { groups, path: { thingName }, query });

async function call(event: APIGatewayProxyEventV2WithJWTAuthorizer): Promise<{ statusCode: number; body: Record<string, any> }> {
  const result = await handler(event);
  return { statusCode: result.statusCode as number, body: JSON.parse(result.body as string) };
}

async function deviceIn(buildingId: string | undefined, readings: number[] = []): Promise<string> {
  const serial = uniqueSerial("TA");
  await putItem(
    db.client,
    db.registryTableName,
    registeredDevice(serial, { status: "PROVISIONED", connected: true, lastSeen: 5, ...(buildingId ? { metadata: { buildingId } } : {}) }),
  );
  for (const ts of readings) {
    await putItem(db.client, TELEMETRY_TABLES.telemetry, {
      thingName: serial,
      ts,
      deviceTs: new Date(ts).toISOString(),
      metrics: { co2_ppm: ts % 1000 },
      expiresAt: 1,
    });
  }
  return serial;
}

beforeAll(async () => {
  db = await startDynalite();
  await createTelemetryTables(db.client);
  handler = loadWith<ApiModule>(API, env()).mod.handler;
});
afterAll(async () => {
  await db.stop();
});
beforeEach(() => {
  logs = captureStdout();
});
afterEach(() => logs.restore());

describe("telemetry API: device telemetry", () => {
  test("returns a device's readings in the time range, oldest first", async () => {
    // GIVEN a device of building A with readings at t0..t0+3h
    const building = uniqueBuilding();
    const t0 = Date.now() - 10 * HOUR;
    const thing = await deviceIn(building, [t0, t0 + HOUR, t0 + 2 * HOUR, t0 + 3 * HOUR]);
    // WHEN a user of building A asks for [t0+1h, t0+2h]
    const { statusCode, body } = await call(telemetryOf(thing, `[building-${building}]`, { from: String(t0 + HOUR), to: String(t0 + 2 * HOUR) }));
    // THEN exactly the two readings in range come back, in order, with the device's building
    expect(statusCode).toBe(200);
    expect(body.items.map((i: { ts: number }) => i.ts)).toEqual([t0 + HOUR, t0 + 2 * HOUR]);
    expect(body.items[0]).toEqual({ ts: t0 + HOUR, deviceTs: new Date(t0 + HOUR).toISOString(), metrics: { co2_ppm: (t0 + HOUR) % 1000 } });
    expect(body).toMatchObject({ thingName: thing, buildingId: building, order: "asc" });
    expect(body.nextToken).toBeUndefined();
  });

  test("defaults to the last 24 hours", async () => {
    // GIVEN readings 2 days and 1 hour old
    const building = uniqueBuilding();
    const now = Date.now();
    const thing = await deviceIn(building, [now - 48 * HOUR, now - HOUR]);
    // WHEN no range is given
    const { body } = await call(telemetryOf(thing, `building-${building}`));
    // THEN only the recent one is returned
    expect(body.items.map((i: { ts: number }) => i.ts)).toEqual([now - HOUR]);
  });

  test("accepts ISO 8601 times", async () => {
    const building = uniqueBuilding();
    const t = Date.parse("2026-11-20T12:00:00.000Z");
    const thing = await deviceIn(building, [t]);
    const { statusCode, body } = await call(telemetryOf(thing, `building-${building}`, { from: "2026-11-20T11:00:00Z", to: "2026-11-20T13:00:00+00:00" }));
    expect(statusCode).toBe(200);
    expect(body.items).toHaveLength(1);
  });

  test("pages through a range with limit and nextToken, newest first, without gaps or repeats", async () => {
    // GIVEN five readings
    const building = uniqueBuilding();
    const t0 = Date.now() - 20 * HOUR;
    const times = [0, 1, 2, 3, 4].map((i) => t0 + i * HOUR);
    const thing = await deviceIn(building, times);
    const query = { from: String(t0), to: String(t0 + 4 * HOUR), order: "desc", limit: "2" };
    // WHEN the client follows nextToken until it is gone
    const seen: number[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const { statusCode, body } = await call(telemetryOf(thing, `building-${building}`, token ? { ...query, nextToken: token } : query));
      expect(statusCode).toBe(200);
      seen.push(...body.items.map((i: { ts: number }) => i.ts));
      token = body.nextToken;
      pages++;
    } while (token && pages < 10);
    // THEN every reading came exactly once, newest first, at most two per page
    expect(seen).toEqual([...times].reverse());
    expect(pages).toBeGreaterThanOrEqual(3);
  });

  test("fails when a user of building A reads a device of building B: 403", async () => {
    // GIVEN a device of building B with readings
    const a = uniqueBuilding();
    const b = uniqueBuilding();
    const thing = await deviceIn(b, [Date.now() - HOUR]);
    // WHEN a user of building A asks for it
    const { statusCode, body } = await call(telemetryOf(thing, `[building-${a}]`));
    // THEN it is refused and nothing is returned
    expect(statusCode).toBe(403);
    expect(body).toEqual({ message: `you may not read device ${thing}: it is not in one of your buildings` });
  });

  test("fails when the device does not exist: the same 403, revealing nothing about serial numbers", async () => {
    const building = uniqueBuilding();
    const unknown = uniqueSerial("NOPE");
    const { statusCode, body } = await call(telemetryOf(unknown, `building-${building}`));
    expect(statusCode).toBe(403);
    expect(body.message).toBe(`you may not read device ${unknown}: it is not in one of your buildings`);
  });

  test.each([
    ["the user is in no group", undefined],
    ["the user is only in groups that are not buildings", "[operators admins]"],
    ["the group claim names the building without the prefix", "[BUILDING]"],
  ])("fails when %s: 403", async (_name, groups) => {
    const building = "BUILDING";
    const thing = await deviceIn(building, [Date.now() - HOUR]);
    expect((await call(telemetryOf(thing, groups as string))).statusCode).toBe(403);
  });

  test("fails when the device has no building: 403", async () => {
    const thing = await deviceIn(undefined, [Date.now() - HOUR]);
    expect((await call(telemetryOf(thing, "[building-anything]"))).statusCode).toBe(403);
  });

  test("reads the groups claim in each shape it arrives in", async () => {
    // GIVEN a device of a building
    const building = uniqueBuilding();
    const thing = await deviceIn(building, [Date.now() - HOUR]);
    // WHEN the user's groups come as the HTTP API's "[a b]", a comma list, or one group
    for (const groups of [`[other building-${building}]`, `other,building-${building}`, `building-${building}`]) {
      // THEN the read is allowed each time
      expect([groups, (await call(telemetryOf(thing, groups))).statusCode]).toEqual([groups, 200]);
    }
  });

  const now = Date.now();
  test.each([
    ["the thing name is not a serial number", "../etc", {}, "thingName"],
    ["from is not a time", "SERIAL0001", { from: "yesterday" }, "from"],
    ["to is a date without a time zone", "SERIAL0001", { to: "2026-11-20T10:00:00" }, "to"],
    ["from is after to", "SERIAL0001", { from: String(now), to: String(now - HOUR) }, "from"],
    ["to is more than a day ahead", "SERIAL0001", { to: String(now + 48 * HOUR) }, "to"],
    ["limit is 0", "SERIAL0001", { limit: "0" }, "limit"],
    ["limit is above 1000", "SERIAL0001", { limit: "1001" }, "limit"],
    ["limit is not a number", "SERIAL0001", { limit: "ten" }, "limit"],
    ["order is neither asc nor desc", "SERIAL0001", { order: "up" }, "order"],
    ["an unknown parameter is given", "SERIAL0001", { fromTime: "1" }, "(root)"],
    ["nextToken is garbage", "SERIAL0001", { nextToken: "%%%" }, "nextToken"],
    [
      "nextToken points outside the range",
      "SERIAL0001",
      { from: "1000", to: "2000", nextToken: Buffer.from(JSON.stringify({ ts: 5000 })).toString("base64url") },
      "nextToken",
    ],
  ])("fails when %s: 400", async (_name, thingName, query, field) => {
    // GIVEN a user of the device's building
    const { statusCode, body } = await call(telemetryOf(thingName, "building-x", query as Record<string, string>));
    // THEN the request is refused before anything is read, naming the bad input
    expect(statusCode).toBe(400);
    expect(body.errors.map((e: { path: string }) => e.path)).toContain(field);
  });
});

describe("telemetry API: buildings", () => {
  test("lists the caller's buildings", async () => {
    const { statusCode, body } = await call(request("GET /buildings", { groups: "[building-lab operators building-hq]" }));
    expect(statusCode).toBe(200);
    expect(body).toEqual({ buildingIds: ["hq", "lab"] });
  });

  const listing = (building: string, query: Record<string, string> = {}) =>
    call(request("GET /buildings/{buildingId}/devices", { groups: `building-${building}`, path: { buildingId: building }, query }));

  test("lists a building's devices, each with its newest hot-store reading and registry facts", async () => {
    // GIVEN two devices of a building, with readings in the hot store at several times
    const building = uniqueBuilding();
    const first = await deviceIn(building, [1_000, 3_000, 2_000]);
    const second = await deviceIn(building, [5_000]);
    // WHEN a user of the building lists it
    const { statusCode, body } = await listing(building);
    // THEN both devices come back with registry facts and their newest reading (not the first written)
    expect(statusCode).toBe(200);
    expect(body.buildingId).toBe(building);
    expect(body.nextToken).toBeUndefined();
    const byThing = new Map(body.devices.map((d: { thingName: string }) => [d.thingName, d]));
    expect([...byThing.keys()].sort()).toEqual([first, second].sort());
    expect(byThing.get(first)).toEqual({
      thingName: first,
      deviceType: "thermostat",
      status: "PROVISIONED",
      connected: true,
      lastSeen: 5,
      latest: { ts: 3_000, deviceTs: new Date(3_000).toISOString(), metrics: { co2_ppm: 0 } },
    });
    expect(byThing.get(second)).toMatchObject({ latest: { ts: 5_000, metrics: { co2_ppm: 0 } } });
  });

  test("leaves out another building's device, even one that once reported under this building", async () => {
    // GIVEN a device of building A with a reading, and a device now registered in building B with newer readings
    const a = uniqueBuilding();
    const own = await deviceIn(a, [1_000]);
    const moved = await deviceIn(uniqueBuilding(), [1_000, 9_000]);
    // WHEN building A is listed THEN only its own device is in it, with its own reading
    const { body } = await listing(a);
    expect(body.devices.map((d: { thingName: string }) => d.thingName)).toEqual([own]);
    expect(body.devices[0].latest.ts).toBe(1_000);
    expect(JSON.stringify(body)).not.toContain(moved);
  });

  test("leaves out a device of the building with no reading in the hot store", async () => {
    // GIVEN a building with one reporting device and one that never reported
    const building = uniqueBuilding();
    const reporting = await deviceIn(building, [7_000]);
    await deviceIn(building);
    // WHEN it is listed THEN only the reporting device is, and the answer still has the same shape
    const { statusCode, body } = await listing(building);
    expect(statusCode).toBe(200);
    expect(body.devices.map((d: { thingName: string }) => d.thingName)).toEqual([reporting]);
    expect(Object.keys(body.devices[0]).sort()).toEqual(["connected", "deviceType", "lastSeen", "latest", "status", "thingName"]);
  });

  test("lists a building with no devices as empty, without a token", async () => {
    const { statusCode, body } = await listing(uniqueBuilding());
    expect(statusCode).toBe(200);
    expect(body).toEqual({ buildingId: expect.any(String), devices: [] });
  });

  test("pages through many devices: each once, each with its own newest reading", async () => {
    // GIVEN 25 reporting devices in one building (more than the queries run at once), amid other buildings' devices
    const building = uniqueBuilding();
    const things: string[] = [];
    for (let i = 0; i < 25; i++) {
      things.push(await deviceIn(building, [10_000 + i, 20_000 + i]));
      if (i % 5 === 0) await deviceIn(uniqueBuilding(), [99_000]);
    }
    // WHEN listed 10 at a time, following nextToken until it is absent
    const listed: { thingName: string; latest: { ts: number } }[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const { statusCode, body } = await listing(building, { limit: "10", ...(nextToken ? { nextToken } : {}) });
      expect(statusCode).toBe(200);
      expect(body.devices.length).toBeLessThanOrEqual(10);
      listed.push(...body.devices);
      nextToken = body.nextToken;
    } while (nextToken && ++pages < 10);
    // THEN all 25 come back exactly once, each with the newest of its own readings
    expect(listed.map((d) => d.thingName).sort()).toEqual([...things].sort());
    for (const device of listed) expect(device.latest.ts).toBe(20_000 + things.indexOf(device.thingName));
  });

  test("a registry read cut by its page bound says where to continue, and continuing skips and repeats nothing", async () => {
    // GIVEN a building's devices amid other devices, and a scan of one item per page, one page per call
    const building = uniqueBuilding();
    const things = [await deviceIn(building), await deviceIn(uniqueBuilding()), await deviceIn(building), await deviceIn(building)];
    const deps = { ddb: DynamoDBDocumentClient.from(db.client), registryTableName: db.registryTableName };
    // WHEN read call after call from each answer's `next`
    const found: string[] = [];
    let startAfter: string | undefined;
    let calls = 0;
    do {
      const scan = await scanBuildingDevices(deps, building, { limit: 2, maxPages: 1, pageItems: 1, startAfter });
      // THEN no call returns more than it may or rows of another building
      expect(scan.rows.length).toBeLessThanOrEqual(1);
      for (const row of scan.rows) expect(row.metadata).toEqual({ buildingId: building });
      found.push(...scan.rows.map((row) => String(row.serialNumber)));
      startAfter = scan.next;
    } while (startAfter !== undefined && ++calls < 10_000);
    // AND together they hold each of the building's devices exactly once
    expect(found.sort()).toEqual([things[0], things[2], things[3]].sort());
  });

  test("fails when the user is not in the building: 403", async () => {
    const building = uniqueBuilding();
    const { statusCode } = await call(request("GET /buildings/{buildingId}/devices", { groups: "building-elsewhere", path: { buildingId: building } }));
    expect(statusCode).toBe(403);
  });

  test.each([
    ["the building id is malformed", { buildingId: "a/b" }, {}, "buildingId"],
    ["limit is above 100", { buildingId: "hq" }, { limit: "101" }, "limit"],
    ["nextToken is not a token of this listing", { buildingId: "hq" }, { nextToken: Buffer.from("{}").toString("base64url") }, "nextToken"],
  ])("fails when %s: 400", async (_name, path, query, field) => {
    const { statusCode, body } = await call(request("GET /buildings/{buildingId}/devices", { groups: "building-hq", path, query }));
    expect(statusCode).toBe(400);
    expect(body.errors.map((e: { path: string }) => e.path)).toContain(field);
  });
});

describe("telemetry API: errors", () => {
  test("fails when the route is unknown: 404", async () => {
    expect((await call(request("DELETE /devices/{thingName}/telemetry", { groups: "building-hq" }))).statusCode).toBe(404);
  });

  test("fails when DynamoDB is unreachable: 500 without internals", async () => {
    // GIVEN the function pointed at an endpoint that refuses connections
    const endpoint = await closedPortEndpoint();
    const broken = loadWith<ApiModule>(API, { ...env(), AWS_ENDPOINT_URL_DYNAMODB: endpoint }).mod;
    try {
      // WHEN a valid request arrives
      const result = await broken.handler(telemetryOf("SERIAL0001", "building-hq"));
      // THEN the caller gets a plain 500
      expect(result.statusCode).toBe(500);
      expect(JSON.parse(result.body as string)).toEqual({ message: "internal error; the request may be retried" });
    } finally {
      process.env.AWS_ENDPOINT_URL_DYNAMODB = db.endpoint;
    }
  });

  test("fails when the function is misconfigured: 500", async () => {
    const broken = loadWith<ApiModule>(API, { ...env(), TELEMETRY_TABLE_NAME: undefined }).mod;
    process.env.TELEMETRY_TABLE_NAME = TELEMETRY_TABLES.telemetry;
    const result = await broken.handler(telemetryOf("SERIAL0001", "building-hq"));
    expect(result.statusCode).toBe(500);
  });
});
