import { createHash } from "node:crypto";
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from "aws-lambda";
import type { RunningDynalite } from "../support/dynalite";
import { ALLOWED_DEVICE_TYPES, apiEvent, closedPortEndpoint, getItem, loadIsolated, putItem, registeredDevice, uniqueSerial, useHandler } from "./helpers";

type RegisterModule = typeof import("../../functions/register-device");
type HookModule = typeof import("../../functions/provisioning-hook");
const REGISTER = "../../functions/register-device";
const FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:register-device";

const baseEnv = (db: RunningDynalite = h.db): Record<string, string | undefined> => ({
  REGISTRY_TABLE_NAME: db.registryTableName,
  ALLOWED_DEVICE_TYPES,
  NAME_PREFIX: "shf-test",
  ENVIRONMENT: "test",
  AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
});

async function call(event: APIGatewayProxyEvent): Promise<{ status: number; body: any; headers: APIGatewayProxyResult["headers"] }> {
  const result = await api(event, { awsRequestId: "req-1", invokedFunctionArn: FUNCTION_ARN });
  return { status: result.statusCode, body: JSON.parse(result.body), headers: result.headers };
}

const registry = (serialNumber: string) => getItem(h.db.client, h.db.registryTableName, { serialNumber });

const h = useHandler<RegisterModule>(REGISTER, (db) => baseEnv(db));
const api: RegisterModule["handler"] = (...args) => h.mod.handler(...args);

describe("POST /devices", () => {
  test("registers a new serial with 201 and a Location header", async () => {
    // GIVEN an unknown serial
    const serial = uniqueSerial();
    // WHEN it is registered
    const res = await call(apiEvent("POST", "/devices", { serialNumber: serial, deviceType: "thermostat", metadata: { room: "hall" } }));
    // THEN 201 with the stored item
    expect(res.status).toBe(201);
    expect(res.headers?.Location).toBe(`/devices/${serial}`);
    expect(res.body).toMatchObject({ serialNumber: serial, thingName: serial, deviceType: "thermostat", status: "REGISTERED", metadata: { room: "hall" } });
  });

  test("stores the registry row as REGISTERED", async () => {
    // GIVEN an unknown serial
    const serial = uniqueSerial();
    // WHEN it is registered
    await call(apiEvent("POST", "/devices", { serialNumber: serial, deviceType: "smart-plug" }));
    // THEN the row exists with the contract's fields
    const row = await registry(serial);
    expect(row).toMatchObject({ serialNumber: serial, thingName: serial, deviceType: "smart-plug", status: "REGISTERED" });
    expect(typeof row?.registeredAt).toBe("string");
  });

  test("normalises the device type", async () => {
    // GIVEN a device type in mixed case
    const serial = uniqueSerial();
    // WHEN it is registered
    const res = await call(apiEvent("POST", "/devices", { serialNumber: serial, deviceType: " Sensor-Hub " }));
    // THEN the canonical form is stored
    expect(res.body.deviceType).toBe("sensor-hub");
  });

  test("answers 200 with the existing item when the same data is registered again", async () => {
    // GIVEN a registered serial
    const serial = uniqueSerial();
    const first = await call(apiEvent("POST", "/devices", { serialNumber: serial, deviceType: "thermostat", metadata: { a: "1" } }));
    // WHEN the same registration is sent again
    const again = await call(apiEvent("POST", "/devices", { serialNumber: serial, deviceType: "thermostat", metadata: { a: "1" } }));
    // THEN 200 and nothing changed
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
  });

  test.each([
    ["the device type differs", { deviceType: "smart-plug", metadata: { a: "1" } }, "deviceType"],
    ["the metadata differs", { deviceType: "thermostat", metadata: { a: "2" } }, "metadata"],
    ["the metadata is dropped", { deviceType: "thermostat" }, "metadata"],
  ])("fails with 409 when %s", async (_name, second, path) => {
    // GIVEN a registered serial
    const serial = uniqueSerial();
    await call(apiEvent("POST", "/devices", { serialNumber: serial, deviceType: "thermostat", metadata: { a: "1" } }));
    const before = await registry(serial);
    // WHEN it is registered again with other data
    const res = await call(apiEvent("POST", "/devices", { serialNumber: serial, ...second }));
    // THEN 409 names the difference and the row is unchanged
    expect(res.status).toBe(409);
    expect(res.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ path })]));
    expect(await registry(serial)).toEqual(before);
  });

  test("fails with 409 when the serial was revoked", async () => {
    // GIVEN a revoked serial
    const serial = uniqueSerial();
    await putItem(h.db.client, h.db.registryTableName, registeredDevice(serial, { status: "REVOKED", revokedAt: "2026-01-01T00:00:00.000Z" }));
    // WHEN it is registered again with the same data
    const res = await call(apiEvent("POST", "/devices", { serialNumber: serial, deviceType: "thermostat" }));
    // THEN 409 says it was revoked
    expect(res.status).toBe(409);
    expect(res.body.message).toContain("revoked");
  });

  test("creates exactly one row when ten identical registrations race", async () => {
    // GIVEN an unknown serial
    const serial = uniqueSerial("RACE");
    // WHEN ten identical registrations arrive at once
    const results = await Promise.all(Array.from({ length: 10 }, () => call(apiEvent("POST", "/devices", { serialNumber: serial, deviceType: "thermostat" }))));
    // THEN one is 201 and the rest are 200 with the same item
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
    expect(new Set(results.map((r) => r.body.registeredAt)).size).toBe(1);
  });

  test("lets only one of two conflicting registrations win", async () => {
    // GIVEN an unknown serial
    const serial = uniqueSerial("RACE");
    // WHEN a thermostat and a smart-plug registration race
    const results = await Promise.all([
      call(apiEvent("POST", "/devices", { serialNumber: serial, deviceType: "thermostat" })),
      call(apiEvent("POST", "/devices", { serialNumber: serial, deviceType: "smart-plug" })),
    ]);
    // THEN one is created, the other is a conflict, and the row matches the winner
    expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
    const winner = results.find((r) => r.status === 201);
    expect((await registry(serial))?.deviceType).toBe(winner?.body.deviceType);
  });
});

describe("POST /devices: bad input writes nothing", () => {
  const tooMany = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, "v"]));
  test.each<[string, string | undefined, number, string | undefined]>([
    ["the body is missing", undefined, 400, undefined],
    ["the body is empty", "", 400, undefined],
    ["the body is not JSON", "{serialNumber: BADJSON01", 400, undefined],
    ["the body is a JSON array", JSON.stringify([{ serialNumber: "BADARRAY01", deviceType: "thermostat" }]), 400, undefined],
    ["the body is JSON null", "null", 400, undefined],
    ["serialNumber is missing", JSON.stringify({ deviceType: "thermostat" }), 400, "serialNumber"],
    ["serialNumber is too short", JSON.stringify({ serialNumber: "AB1", deviceType: "thermostat" }), 400, "serialNumber"],
    ["serialNumber has a space", JSON.stringify({ serialNumber: "BAD SERIAL01", deviceType: "thermostat" }), 400, "serialNumber"],
    ["serialNumber is a number", JSON.stringify({ serialNumber: 12345678, deviceType: "thermostat" }), 400, "serialNumber"],
    ["deviceType is missing", JSON.stringify({ serialNumber: "BADTYPE001" }), 400, "deviceType"],
    ["deviceType is unknown", JSON.stringify({ serialNumber: "BADTYPE002", deviceType: "toaster" }), 400, "deviceType"],
    ["deviceType is not a string", JSON.stringify({ serialNumber: "BADTYPE003", deviceType: ["thermostat"] }), 400, "deviceType"],
    ["an unknown field is sent", JSON.stringify({ serialNumber: "BADFIELD01", deviceType: "thermostat", colour: "red" }), 400, "(root)"],
    ["metadata is not an object", JSON.stringify({ serialNumber: "BADMETA001", deviceType: "thermostat", metadata: "hall" }), 400, "metadata"],
    [
      "metadata values are not strings",
      JSON.stringify({ serialNumber: "BADMETA002", deviceType: "thermostat", metadata: { floor: 2 } }),
      400,
      "metadata.floor",
    ],
    ["metadata has too many keys", JSON.stringify({ serialNumber: "BADMETA003", deviceType: "thermostat", metadata: tooMany }), 400, "metadata"],
    [
      "the body is larger than 8 KiB",
      JSON.stringify({ serialNumber: "BADSIZE001", deviceType: "thermostat", metadata: { a: "x".repeat(9000) } }),
      413,
      undefined,
    ],
  ])("fails when %s", async (_name, body, status, errorPath) => {
    // GIVEN a malformed registration
    // WHEN it is posted
    const res = await call(apiEvent("POST", "/devices", body));
    // THEN the status and reason are given, and nothing is written
    expect(res.status).toBe(status);
    expect(typeof res.body.message).toBe("string");
    if (errorPath) expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(errorPath);
    for (const serial of [
      "BADJSON01",
      "BADARRAY01",
      "BADTYPE001",
      "BADTYPE002",
      "BADTYPE003",
      "BADFIELD01",
      "BADMETA001",
      "BADMETA002",
      "BADMETA003",
      "BADSIZE001",
    ]) {
      expect(await registry(serial)).toBeUndefined();
    }
  });

  test("accepts a base64-encoded body", async () => {
    // GIVEN a body API Gateway passed as base64
    const serial = uniqueSerial();
    const body = Buffer.from(JSON.stringify({ serialNumber: serial, deviceType: "thermostat" })).toString("base64");
    // WHEN it is posted
    const res = await call(apiEvent("POST", "/devices", body, { isBase64Encoded: true }));
    // THEN it is registered
    expect(res.status).toBe(201);
  });
});

describe("POST /devices: reserved serials", () => {
  test.each([
    ["starts with provision-", "provision-10000000abcd", "provision-"],
    ["starts with Provision- in another case", "Provision-10000000abcd", "provision-"],
    ["is the controller's thing name", "shf-test-controller", "shf-test-"],
    ["starts with the name prefix in upper case", "SHF-TEST-0001", "shf-test-"],
  ])("fails with 400 naming the reason and writes nothing when the serial %s", async (_name, serial, prefix) => {
    // GIVEN a serial that collides with our own names
    // WHEN it is registered
    const res = await call(apiEvent("POST", "/devices", { serialNumber: serial, deviceType: "thermostat" }));
    // THEN 400 says why, and no row exists
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ path: "serialNumber", message: expect.stringContaining(`"${prefix}"`) }]);
    expect(res.body.errors[0].message).toContain("reserved");
    expect(await registry(serial)).toBeUndefined();
  });

  test("GIVEN a serial that only contains the prefix later WHEN it is registered THEN it is accepted", async () => {
    const serial = `X${uniqueSerial()}-provision-shf-test-1`;
    const res = await call(apiEvent("POST", "/devices", { serialNumber: serial, deviceType: "thermostat" }));
    expect(res.status).toBe(201);
  });
});

describe("POST /devices: provisioning token hash", () => {
  const TOKEN_SHA256 = createHash("sha256").update("a-device-token").digest("hex");

  test("GIVEN a token hash WHEN registered THEN the row stores it in lower case and the answer only says there is one", async () => {
    // GIVEN a registration with an upper-case hex hash
    const serial = uniqueSerial();
    // WHEN it is posted
    const res = await call(
      apiEvent("POST", "/devices", { serialNumber: serial, deviceType: "thermostat", provisioningTokenSha256: TOKEN_SHA256.toUpperCase() }),
    );
    // THEN the row has the normalised hash, the response does not
    expect(res.status).toBe(201);
    expect(res.body.hasProvisioningToken).toBe(true);
    expect(JSON.stringify(res.body)).not.toMatch(new RegExp(TOKEN_SHA256, "i"));
    expect((await registry(serial))?.provisioningTokenSha256).toBe(TOKEN_SHA256);
  });

  test("GIVEN a row with a token hash WHEN it is read or revoked THEN the answer never carries the hash", async () => {
    // GIVEN a serial registered with a hash
    const serial = uniqueSerial();
    await call(apiEvent("POST", "/devices", { serialNumber: serial, deviceType: "thermostat", provisioningTokenSha256: TOKEN_SHA256 }));
    // WHEN it is read, registered again, then revoked
    const read = await call(apiEvent("GET", `/devices/${serial}`));
    const again = await call(apiEvent("POST", "/devices", { serialNumber: serial, deviceType: "thermostat", provisioningTokenSha256: TOKEN_SHA256 }));
    const revoked = await call(apiEvent("DELETE", `/devices/${serial}`));
    // THEN each says hasProvisioningToken and none has the hash
    expect(read.body).toMatchObject({ serialNumber: serial, hasProvisioningToken: true });
    expect(again).toMatchObject({ status: 200, body: { hasProvisioningToken: true } });
    expect(revoked.body.device).toMatchObject({ hasProvisioningToken: true });
    for (const body of [read.body, again.body, revoked.body]) expect(JSON.stringify(body)).not.toContain(TOKEN_SHA256);
  });

  test("GIVEN a row without a token hash WHEN it is read THEN hasProvisioningToken is false", async () => {
    const serial = uniqueSerial();
    await call(apiEvent("POST", "/devices", { serialNumber: serial, deviceType: "thermostat" }));
    const read = await call(apiEvent("GET", `/devices/${serial}`));
    expect(read.body.hasProvisioningToken).toBe(false);
  });

  test.each([
    ["it is 63 hex characters", TOKEN_SHA256.slice(1)],
    ["it is not hex", "z".repeat(64)],
    ["it is a number", 12345],
    ["it is the token rather than its hash", "a-device-token"],
  ])("fails with 400 and writes nothing when the hash is invalid: %s", async (_name, hash) => {
    const serial = uniqueSerial();
    const res = await call(apiEvent("POST", "/devices", { serialNumber: serial, deviceType: "thermostat", provisioningTokenSha256: hash }));
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(["provisioningTokenSha256"]);
    expect(await registry(serial)).toBeUndefined();
  });

  test("fails with 409 when the serial is registered again with another token hash", async () => {
    // GIVEN a serial registered with a hash
    const serial = uniqueSerial();
    await call(apiEvent("POST", "/devices", { serialNumber: serial, deviceType: "thermostat", provisioningTokenSha256: TOKEN_SHA256 }));
    // WHEN someone registers it again with another hash
    const other = createHash("sha256").update("another-token").digest("hex");
    const res = await call(apiEvent("POST", "/devices", { serialNumber: serial, deviceType: "thermostat", provisioningTokenSha256: other }));
    // THEN 409 names the field, and the stored hash is unchanged
    expect(res.status).toBe(409);
    expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(["provisioningTokenSha256"]);
    expect((await registry(serial))?.provisioningTokenSha256).toBe(TOKEN_SHA256);
  });

  test("GIVEN a serial registered with a token hash THEN the hook allows only the device with the token", async () => {
    // GIVEN a serial registered through the API with a token hash
    const serial = uniqueSerial();
    await call(apiEvent("POST", "/devices", { serialNumber: serial, deviceType: "thermostat", provisioningTokenSha256: TOKEN_SHA256 }));
    const hook = loadIsolated<HookModule>("../../functions/provisioning-hook", { ...baseEnv(), ROTATION_TEMPLATE_NAME: "shf-test-pi-rotation" }).mod.handler;
    const ask = (parameters: Record<string, string>) =>
      hook({ clientId: `provision-${serial}`, certificateId: "c".repeat(64), parameters: { SerialNumber: serial, DeviceType: "thermostat", ...parameters } });
    // WHEN a claim holder without the token asks, then the device with it
    const stranger = await ask({});
    const device = await ask({ ProvisioningToken: "a-device-token" });
    // THEN only the device is allowed
    expect(stranger.allowProvisioning).toBe(false);
    expect(device.allowProvisioning).toBe(true);
  });
});

describe("routing", () => {
  test.each([
    ["PUT on /devices", "PUT", "/devices", 405, "GET, POST"],
    ["POST on /devices/{serial}", "POST", "/devices/ROUTE0001", 405, "GET, DELETE"],
    ["PATCH on /devices/{serial}", "PATCH", "/devices/ROUTE0001", 405, "GET, DELETE"],
  ])("fails with 405 for %s", async (_name, method, path, status, allow) => {
    // GIVEN a known route and an unsupported method
    // WHEN it is called
    const res = await call(apiEvent(method, path, { serialNumber: "ROUTE0001", deviceType: "thermostat" }));
    // THEN 405 with an Allow header, and nothing written
    expect(res.status).toBe(status);
    expect(res.headers?.Allow).toBe(allow);
    expect(await registry("ROUTE0001")).toBeUndefined();
  });

  test.each([["/things"], ["/devices/A1234/extra"], ["/"]])("fails with 404 for the unknown route %s", async (path) => {
    // GIVEN an unknown path
    // WHEN it is called
    const res = await call(apiEvent("GET", path, undefined, { resource: path, pathParameters: null }));
    // THEN 404 with a message
    expect(res.status).toBe(404);
    expect(typeof res.body.message).toBe("string");
  });

  test("routes by path when the event has no resource (local twin)", async () => {
    // GIVEN a registered serial and an event with only method and path
    const serial = uniqueSerial();
    await putItem(h.db.client, h.db.registryTableName, registeredDevice(serial));
    // WHEN it is read by path
    const res = await call(apiEvent("GET", `/devices/${serial}/`, undefined, { resource: undefined as unknown as string, pathParameters: null }));
    // THEN the item is returned
    expect(res.status).toBe(200);
    expect(res.body.serialNumber).toBe(serial);
  });
});

describe("GET /devices/{serialNumber}", () => {
  test("returns the registry item", async () => {
    // GIVEN a registered serial
    const serial = uniqueSerial();
    await putItem(h.db.client, h.db.registryTableName, registeredDevice(serial, { connected: true, lastSeen: 1234 }));
    // WHEN it is read
    const res = await call(apiEvent("GET", `/devices/${serial}`));
    // THEN the item is returned
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ serialNumber: serial, status: "REGISTERED", connected: true, lastSeen: 1234 });
  });

  test("fails with 404 when the serial is unknown", async () => {
    // GIVEN an unknown serial
    // WHEN it is read
    const res = await call(apiEvent("GET", `/devices/${uniqueSerial()}`));
    // THEN 404
    expect(res.status).toBe(404);
  });

  test("fails with 400 when the serial in the path is invalid", async () => {
    // GIVEN an invalid serial
    // WHEN it is read
    const res = await call(apiEvent("GET", "/devices/a%20b"));
    // THEN 400 names the serial
    expect(res.status).toBe(400);
    expect(res.body.errors[0].path).toBe("serialNumber");
  });
});

describe("DELETE /devices/{serialNumber}", () => {
  test("revokes the serial", async () => {
    // GIVEN a registered serial
    const serial = uniqueSerial();
    await putItem(h.db.client, h.db.registryTableName, registeredDevice(serial));
    // WHEN it is revoked
    const res = await call(apiEvent("DELETE", `/devices/${serial}`));
    // THEN the row is REVOKED with a timestamp, and no certificate instructions are given
    expect(res.status).toBe(200);
    expect(await registry(serial)).toMatchObject({ status: "REVOKED", revokedAt: expect.any(String) });
    expect(res.body.certificate).toBeUndefined();
  });

  test("makes the provisioning hook deny the serial", async () => {
    // GIVEN a registered serial that gets revoked
    const serial = uniqueSerial();
    await putItem(h.db.client, h.db.registryTableName, registeredDevice(serial));
    await call(apiEvent("DELETE", `/devices/${serial}`));
    const hook = loadIsolated<HookModule>("../../functions/provisioning-hook", { ...baseEnv(), ROTATION_TEMPLATE_NAME: "shf-test-pi-rotation" }).mod.handler;
    // WHEN the device then asks to be provisioned
    const response = await hook({
      clientId: "claim-1",
      certificateId: "a".repeat(64),
      parameters: { SerialNumber: serial, DeviceType: "thermostat" },
    });
    // THEN it is denied
    expect(response).toEqual({ allowProvisioning: false });
  });

  test("GIVEN a provisioned serial WHEN it is revoked THEN the answer says its certificate is revoked automatically, with no commands to run", async () => {
    const serial = uniqueSerial();
    const certificateId = "0123456789abcdef".repeat(4);
    await putItem(h.db.client, h.db.registryTableName, registeredDevice(serial, { status: "PROVISIONED", certificateId }));

    const res = await call(apiEvent("DELETE", `/devices/${serial}`));

    expect(res.body.certificate).toEqual({ certificateId, revocation: "automatic", message: expect.stringContaining("revokes every certificate") });
  });

  test("answers 200 and keeps the first revokedAt when revoked twice", async () => {
    // GIVEN a revoked serial
    const serial = uniqueSerial();
    await putItem(h.db.client, h.db.registryTableName, registeredDevice(serial));
    const first = await call(apiEvent("DELETE", `/devices/${serial}`));
    // WHEN it is revoked again
    const second = await call(apiEvent("DELETE", `/devices/${serial}`));
    // THEN 200 and the original timestamp
    expect(second.status).toBe(200);
    expect(second.body.device.revokedAt).toBe(first.body.device.revokedAt);
  });

  test("fails with 404 and creates nothing when the serial is unknown", async () => {
    // GIVEN an unknown serial
    const serial = uniqueSerial();
    // WHEN it is revoked
    const res = await call(apiEvent("DELETE", `/devices/${serial}`));
    // THEN 404 and still no row
    expect(res.status).toBe(404);
    expect(await registry(serial)).toBeUndefined();
  });
});

describe("failures", () => {
  test("fails with 500 and a JSON message when DynamoDB is unreachable", async () => {
    // GIVEN the API pointed at a closed port
    const broken = loadIsolated<RegisterModule>(REGISTER, { ...baseEnv(), AWS_ENDPOINT_URL_DYNAMODB: await closedPortEndpoint() }).mod.handler;
    // WHEN a registration is posted
    const res = await broken(apiEvent("POST", "/devices", { serialNumber: "DOWN00001", deviceType: "thermostat" }));
    // THEN 500 with a JSON message (no throw), and the error is logged
    expect(res.statusCode).toBe(500);
    expect(JSON.parse(res.body).message).toMatch(/internal error/);
    expect(h.logs.lines().some((l) => l.level === "error")).toBe(true);
  });

  test("fails with 500 when the configuration is invalid", async () => {
    // GIVEN the API loaded without a table name
    const misconfigured = loadIsolated<RegisterModule>(REGISTER, { ...baseEnv(), REGISTRY_TABLE_NAME: undefined }).mod.handler;
    // WHEN it is called
    const res = await misconfigured(apiEvent("GET", "/devices/CONFIG0001"));
    // THEN 500 says it is misconfigured
    expect(res.statusCode).toBe(500);
    expect(JSON.parse(res.body).message).toMatch(/misconfigured/);
  });
});
