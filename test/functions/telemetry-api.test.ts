import type { APIGatewayProxyEventV2WithJWTAuthorizer } from "aws-lambda";
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
  TELEMETRY_LATEST_TABLE_NAME: TELEMETRY_TABLES.latest,
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

  test("lists a building's devices with their latest reading", async () => {
    // GIVEN two devices of a building with latest readings
    const building = uniqueBuilding();
    const first = await deviceIn(building);
    const second = await deviceIn(building);
    for (const thing of [first, second]) {
      await putItem(db.client, TELEMETRY_TABLES.latest, {
        buildingId: building,
        thingName: thing,
        ts: 42,
        deviceTs: "2026-11-22T10:00:00Z",
        metrics: { co2_ppm: 500 },
        expiresAt: 1,
      });
    }
    // WHEN a user of the building lists it
    const { statusCode, body } = await call(request("GET /buildings/{buildingId}/devices", { groups: `building-${building}`, path: { buildingId: building } }));
    // THEN both devices come back with registry facts and their latest reading
    expect(statusCode).toBe(200);
    expect(body.devices.map((d: { thingName: string }) => d.thingName).sort()).toEqual([first, second].sort());
    expect(body.devices[0]).toMatchObject({
      deviceType: "thermostat",
      status: "PROVISIONED",
      connected: true,
      lastSeen: 5,
      latest: { ts: 42, metrics: { co2_ppm: 500 } },
    });
  });

  test("leaves out a device that moved to another building since its last reading", async () => {
    // GIVEN a latest-reading row under building A for a device now registered in building B
    const a = uniqueBuilding();
    const moved = await deviceIn(uniqueBuilding());
    await putItem(db.client, TELEMETRY_TABLES.latest, { buildingId: a, thingName: moved, ts: 1, metrics: {}, expiresAt: 1 });
    // WHEN building A is listed THEN the device is not in it
    const { body } = await call(request("GET /buildings/{buildingId}/devices", { groups: `building-${a}`, path: { buildingId: a } }));
    expect(body.devices).toEqual([]);
  });

  test("pages through a building's devices", async () => {
    // GIVEN three devices with latest readings
    const building = uniqueBuilding();
    const things = [await deviceIn(building), await deviceIn(building), await deviceIn(building)];
    for (const thing of things) await putItem(db.client, TELEMETRY_TABLES.latest, { buildingId: building, thingName: thing, ts: 1, metrics: {}, expiresAt: 1 });
    // WHEN listed two at a time
    const route = "GET /buildings/{buildingId}/devices";
    const first = await call(request(route, { groups: `building-${building}`, path: { buildingId: building }, query: { limit: "2" } }));
    const second = await call(
      request(route, { groups: `building-${building}`, path: { buildingId: building }, query: { limit: "2", nextToken: first.body.nextToken } }),
    );
    // THEN all three come back exactly once
    const listed = [...first.body.devices, ...second.body.devices].map((d: { thingName: string }) => d.thingName);
    expect(listed.sort()).toEqual([...things].sort());
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
