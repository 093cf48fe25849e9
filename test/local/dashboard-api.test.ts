/**
 * The twin's dashboard routes: HTTP -> payload-2.0 event -> the REAL telemetry-api handler (dynalite)
 * -> HTTP, with the caller's buildings from `x-twin-groups`; aggregates and CSV pass through unchanged.
 */
import type { APIGatewayProxyEventV2WithJWTAuthorizer } from "aws-lambda";
import { LocalApiServer } from "../../local/api-server";
import { matchDashboardRoute, toDashboardEvent, type DashboardHandler } from "../../local/dashboard-api-event";
import { startDynalite, type RunningDynalite } from "../support/dynalite";
import { seedReadings } from "../support/telemetry-seed";
import { captureStdout, putItem, registeredDevice, uniqueSerial } from "../functions/helpers";
import { TELEMETRY_TABLES, createTelemetryTables, loadWith } from "../functions/telemetry-helpers";

const API_KEY = "twin-key";
const HOUR = 3600_000;
let db: RunningDynalite;
let api: LocalApiServer;
let seen: APIGatewayProxyEventV2WithJWTAuthorizer[];
let logs: ReturnType<typeof captureStdout>;
const thing = uniqueSerial("TW");
const start = Math.floor((Date.now() - 30 * HOUR) / HOUR) * HOUR;

beforeAll(async () => {
  db = await startDynalite();
  await createTelemetryTables(db.client);
  const { handler } = loadWith<{ handler: DashboardHandler }>("../../functions/telemetry-api", {
    TELEMETRY_TABLE_NAME: TELEMETRY_TABLES.telemetry,
    TELEMETRY_ROLLUP_TABLE_NAME: TELEMETRY_TABLES.rollup,
    REGISTRY_TABLE_NAME: db.registryTableName,
    AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
  }).mod;
  await putItem(db.client, db.registryTableName, registeredDevice(thing, { status: "PROVISIONED", metadata: { buildingId: "hq" } }));
  await seedReadings(db.client, {
    telemetryTable: TELEMETRY_TABLES.telemetry,
    rollupTable: TELEMETRY_TABLES.rollup,
    things: [thing],
    start,
    stepMs: 10 * 60_000,
    count: 12,
    metrics: (_d, k) => ({ co2_ppm: 500 + k }),
  });
  seen = [];
  api = await LocalApiServer.start({
    apiKey: API_KEY,
    registerHandler: async () => ({ statusCode: 500, body: "not used" }),
    dashboardHandler: (event) => {
      seen.push(event);
      return handler(event);
    },
  });
});
afterAll(async () => {
  await api?.close();
  await db?.stop();
});
beforeEach(() => {
  logs = captureStdout();
});
afterEach(() => logs.restore());

const get = (path: string, headers: Record<string, string> = {}) => fetch(`${api.url}${path}`, { headers: { "x-api-key": API_KEY, ...headers } });
const range = `from=${start}&to=${start + 2 * HOUR - 1}`;

test("matches exactly the stack's dashboard routes", () => {
  expect(matchDashboardRoute("GET", "/devices/SN1/telemetry/aggregate")).toEqual({
    routeKey: "GET /devices/{thingName}/telemetry/aggregate",
    pathParameters: { thingName: "SN1" },
  });
  expect(matchDashboardRoute("GET", "/buildings/hq/telemetry/aggregate")).toEqual({
    routeKey: "GET /buildings/{buildingId}/telemetry/aggregate",
    pathParameters: { buildingId: "hq" },
  });
  expect(matchDashboardRoute("POST", "/buildings")).toBeUndefined();
  expect(matchDashboardRoute("GET", "/devices/SN1")).toBeUndefined();
});

test("builds API Gateway's payload-2.0 event with the groups as the JWT authorizer passes them", () => {
  const event = toDashboardEvent(
    {
      method: "GET",
      url: "/devices/SN1/telemetry/aggregate?interval=1h&metrics=a&metrics=b",
      headers: { Accept: "text/csv", "x-twin-groups": "building-hq building-lab" },
    },
    { routeKey: "GET /devices/{thingName}/telemetry/aggregate", pathParameters: { thingName: "SN1" } },
    0,
  );
  expect(event).toMatchObject({
    version: "2.0",
    routeKey: "GET /devices/{thingName}/telemetry/aggregate",
    rawQueryString: "interval=1h&metrics=a&metrics=b",
    queryStringParameters: { interval: "1h", metrics: "a,b" },
    pathParameters: { thingName: "SN1" },
    headers: { accept: "text/csv" },
    requestContext: {
      http: { method: "GET", path: "/devices/SN1/telemetry/aggregate" },
      authorizer: { jwt: { claims: { "cognito:groups": "[building-hq building-lab]" } } },
    },
  });
});

test("serves a device aggregate from the real handler", async () => {
  const res = await get(`/devices/${thing}/telemetry/aggregate?${range}&interval=1h`, { "x-twin-groups": "building-hq" });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { points: { metrics: { co2_ppm?: { count: number; avg: number } } }[] };
  expect(body.points.map((p) => p.metrics.co2_ppm)).toEqual([
    { count: 6, avg: 502.5, min: 500, max: 505 },
    { count: 6, avg: 508.5, min: 506, max: 511 },
  ]);
});

test("serves CSV when asked", async () => {
  const res = await get(`/devices/${thing}/telemetry/aggregate?${range}&interval=1h&stats=count`, { "x-twin-groups": "building-hq", accept: "text/csv" });
  expect(res.headers.get("content-type")).toBe("text/csv; charset=utf-8");
  expect(await res.text()).toBe(`start,co2_ppm_count\r\n${new Date(start).toISOString()},6\r\n${new Date(start + HOUR).toISOString()},6\r\n`);
});

test("fails when the caller's groups do not include the device's building: 403 from the handler", async () => {
  const res = await get(`/devices/${thing}/telemetry/aggregate?${range}`, { "x-twin-groups": "building-lab" });
  expect(res.status).toBe(403);
  expect((await get(`/buildings/hq/telemetry/aggregate?${range}`)).status).toBe(403);
});

test("fails without the twin's API key, before the handler runs", async () => {
  const before = seen.length;
  const res = await fetch(`${api.url}/buildings`, { headers: { "x-twin-groups": "building-hq" } });
  expect(res.status).toBe(403);
  expect(seen.length).toBe(before);
});
