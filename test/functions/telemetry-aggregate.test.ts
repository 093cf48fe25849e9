import type { APIGatewayProxyEventV2WithJWTAuthorizer } from "aws-lambda";
import { startDynalite, type RunningDynalite } from "../support/dynalite";
import { seedReadings } from "../support/telemetry-seed";
import { captureStdout, putItem, registeredDevice, uniqueSerial } from "./helpers";
import { TELEMETRY_TABLES, createTelemetryTables, loadWith } from "./telemetry-helpers";

type ApiModule = typeof import("../../functions/telemetry-api");
const HOUR = 3600_000;
const DAY = 24 * HOUR;
const STEP = 10 * 60_000;
/** Readings per device: 24 hours at 10-minute sampling. */
const READINGS = 144;
/** No device reports during hour 5 of the day (readings 30..35). */
const GAP_HOUR = 5;
const DEVICES = 20;

let db: RunningDynalite;
let handler: ApiModule["handler"];
let logs: ReturnType<typeof captureStdout>;

/** Day 0, midnight UTC, two days ago: inside the API's window and aligned to every interval. */
const day0 = Math.floor((Date.now() - 2 * DAY) / DAY) * DAY;
const building = `agg${Date.now().toString(36)}`;
const other = `${building}x`;
const things = Array.from({ length: DEVICES }, () => uniqueSerial("AG"));
const outsider = uniqueSerial("AGX");
/** Moved to the other building: its readings (in the hot store) must not count for `building`. */
const moved = uniqueSerial("AGM");

/** Device d, reading k: co2 400 + 10d + k, temperature alternating 20/22, occupied on every third reading. */
const metricsOf = (d: number, k: number) =>
  Math.floor(k / 6) === GAP_HOUR ? undefined : { co2_ppm: 400 + 10 * d + k, temperature_c: k % 2 === 0 ? 20 : 22, occupancy: k % 3 === 0 };

function request(
  routeKey: string,
  groups: string,
  path: Record<string, string>,
  query: Record<string, string> = {},
  accept?: string,
): APIGatewayProxyEventV2WithJWTAuthorizer {
  return {
    version: "2.0",
    routeKey,
    rawPath: "/",
    rawQueryString: "",
    headers: accept ? { accept } : {},
    pathParameters: path,
    queryStringParameters: query,
    isBase64Encoded: false,
    requestContext: { routeKey, authorizer: { jwt: { claims: { sub: "user-1", "cognito:groups": groups }, scopes: null } } },
  } as unknown as APIGatewayProxyEventV2WithJWTAuthorizer;
}
const deviceAggregate = (thingName: string, groups: string, query: Record<string, string> = {}, accept?: string) =>
  request("GET /devices/{thingName}/telemetry/aggregate", groups, { thingName }, query, accept);
const buildingAggregate = (buildingId: string, groups: string, query: Record<string, string> = {}, accept?: string) =>
  request("GET /buildings/{buildingId}/telemetry/aggregate", groups, { buildingId }, query, accept);

async function call(event: APIGatewayProxyEventV2WithJWTAuthorizer): Promise<{ statusCode: number; body: Record<string, any>; headers: Record<string, any> }> {
  const result = await handler(event);
  const text = result.body as string;
  const json = String(result.headers?.["Content-Type"]).startsWith("application/json");
  return { statusCode: result.statusCode as number, body: json ? JSON.parse(text) : { text }, headers: result.headers ?? {} };
}

const day = { from: String(day0), to: String(day0 + DAY - 1) };

beforeAll(async () => {
  db = await startDynalite();
  await createTelemetryTables(db.client);
  handler = loadWith<ApiModule>("../../functions/telemetry-api", {
    TELEMETRY_TABLE_NAME: TELEMETRY_TABLES.telemetry,
    TELEMETRY_ROLLUP_TABLE_NAME: TELEMETRY_TABLES.rollup,
    REGISTRY_TABLE_NAME: db.registryTableName,
    ENVIRONMENT: "test",
    AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
  }).mod.handler;
  for (const thing of things)
    await putItem(db.client, db.registryTableName, registeredDevice(thing, { status: "PROVISIONED", metadata: { buildingId: building } }));
  await putItem(db.client, db.registryTableName, registeredDevice(outsider, { status: "PROVISIONED", metadata: { buildingId: other } }));
  await putItem(db.client, db.registryTableName, registeredDevice(moved, { status: "PROVISIONED", metadata: { buildingId: other } }));
  await seedReadings(db.client, {
    telemetryTable: TELEMETRY_TABLES.telemetry,
    rollupTable: TELEMETRY_TABLES.rollup,
    things,
    start: day0,
    stepMs: STEP,
    count: READINGS,
    metrics: metricsOf,
  });
  // Other buildings' devices read 10000 ppm: any leak into this building's numbers shows at once.
  await seedReadings(db.client, {
    telemetryTable: TELEMETRY_TABLES.telemetry,
    rollupTable: TELEMETRY_TABLES.rollup,
    things: [outsider, moved],
    start: day0,
    stepMs: STEP,
    count: READINGS,
    metrics: () => ({ co2_ppm: 10_000 }),
  });
}, 120_000);
afterAll(async () => {
  await db.stop();
});
beforeEach(() => {
  logs = captureStdout();
});
afterEach(() => logs.restore());

describe("telemetry API: device aggregates", () => {
  test("gives avg/min/max/count per hour for numbers and count + share of true for booleans, with the empty hour present", async () => {
    // GIVEN device 3 of the building, 24 h at 10-minute sampling with no readings in hour 5
    // WHEN its hourly aggregate of the day is asked for
    const { statusCode, body } = await call(deviceAggregate(things[3]!, `building-${building}`, { ...day, interval: "1h" }));
    // THEN there are 24 points, hour h holding readings k = 6h..6h+5
    expect(statusCode).toBe(200);
    expect(body).toMatchObject({
      thingName: things[3],
      buildingId: building,
      interval: "1h",
      intervalMs: HOUR,
      metrics: ["co2_ppm", "occupancy", "temperature_c"],
    });
    expect(body.points).toHaveLength(24);
    expect(body.points[GAP_HOUR]).toEqual({ start: day0 + GAP_HOUR * HOUR, metrics: {} });
    const h = 7;
    expect(body.points[h]).toEqual({
      start: day0 + h * HOUR,
      metrics: {
        co2_ppm: { count: 6, avg: 430 + 6 * h + 2.5, min: 430 + 6 * h, max: 430 + 6 * h + 5 },
        temperature_c: { count: 6, avg: 21, min: 20, max: 22 },
        occupancy: { count: 6, trueShare: 2 / 6 },
      },
    });
  });

  test("aggregates a whole day into one point per day, only the metrics and stats asked for", async () => {
    const { body } = await call(
      deviceAggregate(things[0]!, `building-${building}`, { ...day, interval: "1d", metrics: "co2_ppm,occupancy", stats: "avg,count" }),
    );
    // 138 readings (144 minus the gap hour): k = 0..143 without 30..35
    const ks = Array.from({ length: READINGS }, (_, k) => k).filter((k) => Math.floor(k / 6) !== GAP_HOUR);
    expect(body.points).toEqual([
      {
        start: day0,
        metrics: {
          co2_ppm: { count: 138, avg: 400 + ks.reduce((a, b) => a + b, 0) / 138 },
          occupancy: { count: 138, trueShare: ks.filter((k) => k % 3 === 0).length / 138 },
        },
      },
    ]);
    expect(body.metrics).toEqual(["co2_ppm", "occupancy"]);
  });

  test("keeps empty intervals before and after the readings (5-minute points)", async () => {
    const { body } = await call(
      deviceAggregate(things[1]!, `building-${building}`, {
        from: String(day0 - HOUR),
        to: String(day0 + 30 * 60_000 - 1),
        interval: "5m",
        metrics: "co2_ppm",
        stats: "count",
      }),
    );
    expect(body.points).toHaveLength(18);
    expect(body.points.slice(0, 12).every((p: { metrics: object }) => Object.keys(p.metrics).length === 0)).toBe(true);
    expect(body.points.slice(12).map((p: { metrics: { co2_ppm?: { count: number } } }) => p.metrics.co2_ppm?.count ?? 0)).toEqual([1, 0, 1, 0, 1, 0]);
  });

  test("fails when a user of another building asks for a device: 403, and the same 403 for an unknown device", async () => {
    const foreign = await call(deviceAggregate(things[0]!, `building-${other}`, day));
    const unknown = await call(deviceAggregate(uniqueSerial("NOPE"), `building-${other}`, day));
    expect([foreign.statusCode, unknown.statusCode]).toEqual([403, 403]);
    expect(foreign.body.message).toMatch(/is not in one of your buildings$/);
    expect(unknown.body.message).toMatch(/is not in one of your buildings$/);
    expect(foreign.body.points).toBeUndefined();
  });

  test.each([
    ["the interval is not one of the four", { interval: "2h" }, "interval"],
    ["a stat is unknown", { stats: "avg,median" }, "stats"],
    ["a metric is not a name", { metrics: "co2_ppm,../x" }, "metrics"],
    ["no metric is named", { metrics: " , " }, "metrics"],
    ["the range gives too many points", { from: String(day0 - 6 * DAY), to: String(day0 + DAY), interval: "5m" }, "interval"],
    ["from is after to", { from: String(day0 + HOUR), to: String(day0) }, "from"],
    ["to is a date without a zone", { to: "2026-11-20T10:00:00" }, "to"],
    ["an unknown parameter is given", { limit: "5" }, "(root)"],
  ])("fails when %s: 400 naming it, before anything is read", async (_name, query, field) => {
    const { statusCode, body } = await call(deviceAggregate(things[0]!, `building-${building}`, query as Record<string, string>));
    expect(statusCode).toBe(400);
    expect(body.errors.map((e: { path: string }) => e.path)).toContain(field);
  });
});

describe("telemetry API: building aggregates", () => {
  test("rolls up every device of the building per hour, leaving out other buildings and devices that moved away", async () => {
    // WHEN the building's hourly aggregate of the day is asked for
    const { statusCode, body } = await call(buildingAggregate(building, `[building-${building}]`, { ...day, interval: "1h" }));
    // THEN the 20 devices (not the moved one, not the other building's) make each hour
    expect(statusCode).toBe(200);
    expect(body).toMatchObject({ buildingId: building, deviceCount: DEVICES });
    expect(body.points).toHaveLength(24);
    expect(body.points[GAP_HOUR].metrics).toEqual({});
    const h = 12;
    const { co2_ppm, occupancy, temperature_c } = body.points[h].metrics;
    expect(co2_ppm.count).toBe(120);
    expect(co2_ppm.min).toBe(400 + 6 * h);
    expect(co2_ppm.max).toBe(400 + 190 + 6 * h + 5);
    expect(co2_ppm.avg).toBeCloseTo(400 + 95 + 6 * h + 2.5, 9);
    expect(temperature_c).toEqual({ count: 120, avg: 21, min: 20, max: 22 });
    expect(occupancy).toEqual({ count: 120, trueShare: 40 / 120 });
  });

  test("fails when a user of another building asks: 403 with nothing read", async () => {
    const { statusCode, body } = await call(buildingAggregate(building, `building-${other}`, day));
    expect(statusCode).toBe(403);
    expect(body).toEqual({ message: `you may not read building ${building}` });
  });

  test("fails when the building id is not an id: 400 naming buildingId", async () => {
    const { statusCode, body } = await call(buildingAggregate("../etc", `building-${building}`, day));
    expect(statusCode).toBe(400);
    expect(body.errors[0].path).toBe("buildingId");
  });
});

describe("telemetry API: CSV", () => {
  test("answers an aggregate as CSV when asked, one row per interval and empty cells for the empty hour", async () => {
    const { statusCode, body, headers } = await call(
      deviceAggregate(things[3]!, `building-${building}`, { ...day, interval: "1h", metrics: "co2_ppm,occupancy", stats: "avg,count" }, "text/csv"),
    );
    expect(statusCode).toBe(200);
    expect(headers["Content-Type"]).toBe("text/csv; charset=utf-8");
    const lines = (body.text as string).split("\r\n");
    expect(lines[0]).toBe("start,co2_ppm_avg,co2_ppm_count,occupancy_count,occupancy_trueShare");
    expect(lines[1]).toBe(`${new Date(day0).toISOString()},432.5,6,6,${2 / 6}`);
    expect(lines[1 + GAP_HOUR]).toBe(`${new Date(day0 + GAP_HOUR * HOUR).toISOString()},,,,`);
    expect(lines).toHaveLength(26); // header, 24 rows, and the final CRLF
  });

  test("answers raw readings as CSV, escaping text a spreadsheet would run as a formula", async () => {
    // GIVEN a reading whose device clock field is hostile text and a negative temperature
    const thing = things[5]!;
    const ts = day0 + 2 * DAY - 10 * 60_000;
    await putItem(db.client, TELEMETRY_TABLES.telemetry, {
      thingName: thing,
      ts,
      deviceTs: '=HYPERLINK("http://x","y")',
      metrics: { temperature_c: -3.5, label: "+1,2" },
      expiresAt: 1,
    });
    const { body, headers } = await call(
      request(
        "GET /devices/{thingName}/telemetry",
        `building-${building}`,
        { thingName: thing },
        { from: String(ts), to: String(ts) },
        "text/csv;q=0.9, application/json;q=0.5",
      ),
    );
    expect(headers["Content-Type"]).toBe("text/csv; charset=utf-8");
    expect(body.text).toBe(`time,ts,deviceTs,label,temperature_c\r\n${new Date(ts).toISOString()},${ts},"'=HYPERLINK(""http://x"",""y"")","'+1,2",-3.5\r\n`);
  });

  test("keeps errors JSON and answers JSON when JSON is preferred", async () => {
    const denied = await call(buildingAggregate(building, `building-${other}`, day, "text/csv"));
    expect([denied.statusCode, denied.headers["Content-Type"]]).toEqual([403, "application/json"]);
    const json = await call(buildingAggregate(building, `building-${building}`, { ...day, interval: "1d" }, "application/json, text/csv;q=0.5"));
    expect(json.headers["Content-Type"]).toBe("application/json");
  });
});

describe("telemetry API: aggregates under a throttled table", () => {
  /**
   * A proxy before dynalite that answers a Query of the hot store or of the rollups (what aggregates
   * read) with DynamoDB's throttling error when `throttle(attempt of this same request)` says so.
   */
  async function throttlingProxy(throttle: (attempt: number) => boolean) {
    const http = await import("node:http");
    let queries = 0;
    const attempts = new Map<string, number>();
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks);
        const isHotQuery =
          String(req.headers["x-amz-target"]).endsWith(".Query") &&
          [TELEMETRY_TABLES.telemetry, TELEMETRY_TABLES.rollup].includes(JSON.parse(body.toString("utf8")).TableName);
        const attempt = (attempts.get(body.toString("utf8")) ?? 0) + 1;
        attempts.set(body.toString("utf8"), attempt);
        if (isHotQuery) queries++;
        if (isHotQuery && throttle(attempt)) {
          res.writeHead(400, { "content-type": "application/x-amz-json-1.0" });
          res.end(
            JSON.stringify({
              __type: "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
              message: "Rate of requests exceeds the allowed throughput.",
            }),
          );
          return;
        }
        const upstream = http.request(`${db.endpoint}${req.url}`, { method: req.method, headers: req.headers }, (r) => {
          res.writeHead(r.statusCode ?? 500, r.headers);
          r.pipe(res);
        });
        upstream.end(body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as import("node:net").AddressInfo;
    return {
      endpoint: `http://127.0.0.1:${port}`,
      queries: () => queries,
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    };
  }

  const handlerAt = (endpoint: string) =>
    loadWith<ApiModule>("../../functions/telemetry-api", {
      TELEMETRY_TABLE_NAME: TELEMETRY_TABLES.telemetry,
      TELEMETRY_ROLLUP_TABLE_NAME: TELEMETRY_TABLES.rollup,
      REGISTRY_TABLE_NAME: db.registryTableName,
      AWS_ENDPOINT_URL_DYNAMODB: endpoint,
    }).mod.handler;

  test("gives the exact building numbers when every hot-store or rollup query is throttled once (the SDK retries)", async () => {
    // GIVEN a table that throttles the first attempt of every query
    const proxy = await throttlingProxy((attempt) => attempt === 1);
    try {
      const throttled = handlerAt(proxy.endpoint);
      // WHEN the building's day is aggregated
      const result = await throttled(buildingAggregate(building, `building-${building}`, { ...day, interval: "1d", metrics: "co2_ppm", stats: "count" }));
      // THEN no reading is lost or counted twice
      expect(result.statusCode).toBe(200);
      expect(JSON.parse(result.body as string).points[0].metrics.co2_ppm.count).toBe(DEVICES * (READINGS - 6));
      // Two attempts of each device's query, and of the one watermark read per request (not per device).
      expect(proxy.queries()).toBe(2 * DEVICES + 2);
    } finally {
      await proxy.close();
    }
  });

  test("fails when the table stays throttled: 500 asking for a retry, never a partial answer", async () => {
    const proxy = await throttlingProxy(() => true);
    try {
      const result = await handlerAt(proxy.endpoint)(buildingAggregate(building, `building-${building}`, day));
      expect(result.statusCode).toBe(500);
      expect(JSON.parse(result.body as string)).toEqual({ message: "internal error; the request may be retried" });
    } finally {
      await proxy.close();
    }
  });
});
