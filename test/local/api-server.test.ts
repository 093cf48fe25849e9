/**
 * The local registration API: API Gateway's API-key check in front, HTTP -> APIGatewayProxyEvent -> the
 * REAL register-device handler (against dynalite) -> HTTP, with the handler's status, headers and body
 * passed through unchanged.
 */
import type { APIGatewayProxyEvent } from "aws-lambda";
import { LocalApiServer, ProxyHandler, hasValidApiKey, matchResource, toApiGatewayEvent } from "../../local/api-server";
import { RunningDynalite, startDynalite } from "../support/dynalite";

const API_KEY = "test-key-123";

describe("local API server", () => {
  let db: RunningDynalite;
  let api: LocalApiServer;
  let seen: APIGatewayProxyEvent[];
  const previousTypes = process.env.ALLOWED_DEVICE_TYPES;
  const previousLogLevel = process.env.LOG_LEVEL;
  const previousPrefix = process.env.NAME_PREFIX;

  beforeAll(async () => {
    db = await startDynalite();
    process.env.ALLOWED_DEVICE_TYPES = "thermostat,smart-plug";
    process.env.LOG_LEVEL = "silent";
    process.env.NAME_PREFIX = "shf-local";
    // The handler reads its configuration at load, so it is required after the environment is set.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded once the environment is set: the module reads its configuration at load
    const { handler } = require("../../functions/register-device") as { handler: ProxyHandler };
    seen = [];
    api = await LocalApiServer.start({
      apiKey: API_KEY,
      registerHandler: (event) => {
        seen.push(event);
        return handler(event);
      },
    });
  });

  afterAll(async () => {
    await api?.close();
    await db?.stop();
    if (previousTypes === undefined) delete process.env.ALLOWED_DEVICE_TYPES;
    else process.env.ALLOWED_DEVICE_TYPES = previousTypes;
    if (previousLogLevel === undefined) delete process.env.LOG_LEVEL;
    else process.env.LOG_LEVEL = previousLogLevel;
    if (previousPrefix === undefined) delete process.env.NAME_PREFIX;
    else process.env.NAME_PREFIX = previousPrefix;
  });

  const post = (path: string, body: unknown, headers: Record<string, string> = { "x-api-key": API_KEY }) =>
    fetch(`${api.url}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

  it("fails with 403 Forbidden and does not call the handler WHEN the x-api-key header is missing", async () => {
    const calls = seen.length;
    const res = await post("/devices", { serialNumber: "10000000c0de0001", deviceType: "thermostat" }, {});
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ message: "Forbidden" });
    expect(seen.length).toBe(calls);
  });

  it("fails with 403 WHEN the API key is wrong", async () => {
    const res = await fetch(`${api.url}/devices/10000000c0de0001`, { headers: { "x-api-key": "nope" } });
    expect(res.status).toBe(403);
  });

  it("GIVEN an invalid registration WHEN posted THEN the handler's 400 and its error body reach the caller unchanged", async () => {
    const res = await post("/devices", { serialNumber: "x", deviceType: "toaster", extra: 1 });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toBe("application/json");
    const body = (await res.json()) as { message: string; errors: Array<{ path: string }> };
    expect(body.message).toBe("invalid registration request");
    expect(body.errors.map((e) => e.path)).toEqual(expect.arrayContaining(["serialNumber", "deviceType"]));
  });

  it("GIVEN a valid registration WHEN posted THEN 201 with the item and the Location header, and GET reads it back", async () => {
    const res = await post("/devices", { serialNumber: "10000000c0de0001", deviceType: "thermostat" });
    expect(res.status).toBe(201);
    expect(res.headers.get("location")).toBe("/devices/10000000c0de0001");
    expect(await res.json()).toMatchObject({ serialNumber: "10000000c0de0001", deviceType: "thermostat", status: "REGISTERED" });

    const get = await fetch(`${api.url}/devices/10000000c0de0001`, { headers: { "x-api-key": API_KEY } });
    expect(get.status).toBe(200);
    expect(await get.json()).toMatchObject({ serialNumber: "10000000c0de0001", status: "REGISTERED" });
  });

  it("GIVEN a registration with a provisioning token hash WHEN posted THEN the handler stores it and the answer only says hasProvisioningToken", async () => {
    const hash = "0f".repeat(32);
    const res = await post("/devices", { serialNumber: "10000000c0de0007", deviceType: "thermostat", provisioningTokenSha256: hash });
    expect(res.status).toBe(201);
    const text = await res.text();
    expect(JSON.parse(text)).toMatchObject({ serialNumber: "10000000c0de0007", hasProvisioningToken: true });
    expect(text).not.toContain(hash);
  });

  it("GIVEN a reserved serial WHEN posted THEN the handler's 400 naming the reason reaches the caller", async () => {
    const res = await post("/devices", { serialNumber: "shf-local-controller", deviceType: "thermostat" });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { errors: Array<{ path: string; message: string }> };
    expect(body.errors).toEqual([{ path: "serialNumber", message: expect.stringContaining("reserved") }]);
  });

  it("GIVEN a request THEN the handler gets API Gateway's REST proxy event (resource, path parameters, key in the identity)", async () => {
    await fetch(`${api.url}/devices/10000000c0de0001?verbose=1`, { headers: { "x-api-key": API_KEY } });
    const event = seen[seen.length - 1]!;
    expect(event).toMatchObject({
      resource: "/devices/{serialNumber}",
      path: "/devices/10000000c0de0001",
      httpMethod: "GET",
      pathParameters: { serialNumber: "10000000c0de0001" },
      queryStringParameters: { verbose: "1" },
      multiValueQueryStringParameters: { verbose: ["1"] },
      body: null,
      isBase64Encoded: false,
      requestContext: { stage: "local", resourcePath: "/devices/{serialNumber}", httpMethod: "GET", identity: { apiKey: API_KEY } },
    });
  });

  it("passes the handler's 405 and Allow header through WHEN the method is wrong", async () => {
    const res = await fetch(`${api.url}/devices`, { method: "PUT", headers: { "x-api-key": API_KEY } });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET, POST");
  });

  describe("adapter functions", () => {
    it("GIVEN paths THEN they map to the API's resources with decoded path parameters", () => {
      expect(matchResource("/devices")).toEqual({ resource: "/devices", pathParameters: null });
      expect(matchResource("/devices/a%2Db")).toEqual({ resource: "/devices/{serialNumber}", pathParameters: { serialNumber: "a-b" } });
      expect(matchResource("/devices/SN-1/replace")).toEqual({ resource: "/devices/{serialNumber}/replace", pathParameters: { serialNumber: "SN-1" } });
      expect(matchResource("/devices/SN-1/explode")).toBeUndefined();
      expect(matchResource("/other")).toBeUndefined();
    });

    it("GIVEN headers THEN only the exact x-api-key value passes", () => {
      expect(hasValidApiKey({ "x-api-key": API_KEY }, API_KEY)).toBe(true);
      expect(hasValidApiKey({ "x-api-key": `${API_KEY} ` }, API_KEY)).toBe(false);
      expect(hasValidApiKey({}, API_KEY)).toBe(false);
    });

    it("GIVEN a POST without a query THEN the event has the body as text and null query maps", () => {
      const event = toApiGatewayEvent(
        { method: "post", url: "/devices", headers: { "x-api-key": "k", "content-type": "application/json" }, body: "{}" },
        { now: 1, requestId: "r" },
      );
      expect(event).toMatchObject({
        resource: "/devices",
        httpMethod: "POST",
        body: "{}",
        queryStringParameters: null,
        pathParameters: null,
        headers: { "content-type": "application/json" },
        multiValueHeaders: { "content-type": ["application/json"] },
        requestContext: { requestId: "r", requestTimeEpoch: 1, path: "/local/devices" },
      });
    });
  });
});
