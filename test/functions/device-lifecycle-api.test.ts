/**
 * Day-2 routes of the registration API against dynalite: POST /devices/{serial}/reprovision and
 * /replace. Each row change they make is also checked to be one the certificate revoker acts on (the
 * stream record dynalite cannot produce is built from the rows before and after).
 */
import { createHash } from "node:crypto";
import { revocationReason } from "../../functions/revoke-certificates/revoke";
import type { RegistryItem } from "../../functions/shared/registry";
import type { RunningDynalite } from "../support/dynalite";
import { ALLOWED_DEVICE_TYPES, apiEvent, getItem, loadIsolated, putItem, registeredDevice, uniqueSerial, useHandler } from "./helpers";

type HookModule = typeof import("../../functions/provisioning-hook");

type RegisterModule = typeof import("../../functions/register-device");

const env = (db: RunningDynalite) => ({
  REGISTRY_TABLE_NAME: db.registryTableName,
  ALLOWED_DEVICE_TYPES,
  NAME_PREFIX: "shf-test",
  ENVIRONMENT: "test",
  AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
});
const h = useHandler<RegisterModule>("../../functions/register-device", env);

/** The real provisioning hook on the same table: what a Pi's RegisterThing meets. */
async function hookAllows(serial: string, certificateId: string, token?: string): Promise<boolean> {
  const hook = loadIsolated<HookModule>("../../functions/provisioning-hook", { ...env(h.db), ROTATION_TEMPLATE_NAME: "shf-test-pi-rotation" }).mod.handler;
  const response = await hook({
    clientId: `provision-${serial}`,
    certificateId,
    parameters: { SerialNumber: serial, DeviceType: "thermostat", ...(token ? { ProvisioningToken: token } : {}) },
  });
  return response.allowProvisioning;
}

const CERTIFICATE = "ab".repeat(32);
const tokenHash = (token: string) => createHash("sha256").update(token).digest("hex");

async function call(path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const result = await h.mod.handler(apiEvent("POST", path, body), { awsRequestId: "req-1" });
  return { status: result.statusCode, body: JSON.parse(result.body) };
}

const row = async (serialNumber: string) => (await getItem(h.db.client, h.db.registryTableName, { serialNumber })) as RegistryItem | undefined;
const seed = (serial: string, overrides: Record<string, unknown> = {}) => putItem(h.db.client, h.db.registryTableName, registeredDevice(serial, overrides));
const provisionedRow = (serial: string, overrides: Record<string, unknown> = {}) =>
  seed(serial, {
    status: "PROVISIONED",
    certificateId: CERTIFICATE,
    provisionedAt: 1,
    connected: true,
    lastSeen: 2,
    metadata: { buildingId: "b-1", room: "hall" },
    ...overrides,
  });

describe("POST /devices/{serial}/reprovision", () => {
  test("GIVEN a provisioned serial WHEN it is re-provisioned THEN the row is REGISTERED again without its certificate or connection state", async () => {
    const serial = uniqueSerial();
    await provisionedRow(serial);

    const res = await call(`/devices/${serial}/reprovision`);

    expect(res.status).toBe(200);
    const after = await row(serial);
    expect(after).toMatchObject({ status: "REGISTERED", metadata: { buildingId: "b-1", room: "hall" } });
    expect(after).not.toHaveProperty("certificateId");
    expect(after).not.toHaveProperty("connected");
    expect(after).not.toHaveProperty("provisionedAt");
  });

  test("GIVEN a provisioned serial WHEN it is re-provisioned THEN the row change asks the revoker to revoke its certificates", async () => {
    const serial = uniqueSerial();
    await provisionedRow(serial);
    const before = await row(serial);

    await call(`/devices/${serial}/reprovision`);

    expect(revocationReason({ eventName: "MODIFY", oldImage: before, newImage: await row(serial) })).toBe("reprovisioned");
  });

  test("GIVEN a revoked serial WHEN it is re-provisioned THEN it can be provisioned again (REVOKED is not a dead end)", async () => {
    const serial = uniqueSerial();
    await seed(serial, { status: "REVOKED", revokedAt: "2026-01-01T00:00:00.000Z", certificateId: CERTIFICATE });

    const res = await call(`/devices/${serial}/reprovision`);

    expect(res.status).toBe(200);
    expect(res.body.device).toMatchObject({ status: "REGISTERED" });
    expect(await row(serial)).not.toHaveProperty("revokedAt");
  });

  test("GIVEN a new token hash WHEN re-provisioning THEN the row holds the new hash and the API never shows it", async () => {
    const serial = uniqueSerial();
    await provisionedRow(serial, { provisioningTokenSha256: tokenHash("old") });

    const res = await call(`/devices/${serial}/reprovision`, { provisioningTokenSha256: tokenHash("new") });

    expect((await row(serial))?.provisioningTokenSha256).toBe(tokenHash("new"));
    expect(res.body.device).toMatchObject({ hasProvisioningToken: true });
    expect(JSON.stringify(res.body)).not.toContain(tokenHash("new"));
  });

  test("GIVEN a serial already re-provisioned WHEN the request is sent again THEN 200 and the row (and its request time) is unchanged", async () => {
    const serial = uniqueSerial();
    await provisionedRow(serial);
    await call(`/devices/${serial}/reprovision`);
    const first = await row(serial);

    const res = await call(`/devices/${serial}/reprovision`);

    expect(res.status).toBe(200);
    expect(await row(serial)).toEqual(first);
  });

  test("fails when the serial is not registered: 404 and nothing is written", async () => {
    const serial = uniqueSerial();

    const res = await call(`/devices/${serial}/reprovision`);

    expect(res.status).toBe(404);
    expect(await row(serial)).toBeUndefined();
  });

  test("fails when the token hash is not 64 hex characters: 400 naming the field, row unchanged", async () => {
    const serial = uniqueSerial();
    await provisionedRow(serial);
    const before = await row(serial);

    const res = await call(`/devices/${serial}/reprovision`, { provisioningTokenSha256: "nope" });

    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([expect.objectContaining({ path: "provisioningTokenSha256" })]);
    expect(await row(serial)).toEqual(before);
  });

  test("fails when the body has an unknown field: 400, row unchanged", async () => {
    const serial = uniqueSerial();
    await provisionedRow(serial);
    const before = await row(serial);

    const res = await call(`/devices/${serial}/reprovision`, { status: "PROVISIONED" });

    expect(res.status).toBe(400);
    expect(await row(serial)).toEqual(before);
  });
});

describe("POST /devices/{serial}/replace", () => {
  test("GIVEN a provisioned serial WHEN it is replaced THEN 201 and the new serial has its device type, metadata and building", async () => {
    const [oldSerial, newSerial] = [uniqueSerial("OLD"), uniqueSerial("NEW")];
    await provisionedRow(oldSerial, { deviceType: "sensor-hub" });

    const res = await call(`/devices/${oldSerial}/replace`, { newSerialNumber: newSerial });

    expect(res.status).toBe(201);
    expect(await row(newSerial)).toMatchObject({
      serialNumber: newSerial,
      thingName: newSerial,
      status: "REGISTERED",
      deviceType: "sensor-hub",
      metadata: { buildingId: "b-1", room: "hall" },
      replaces: oldSerial,
    });
  });

  test("GIVEN a provisioned serial WHEN it is replaced THEN the old row is REVOKED, names its replacement, and the change asks the revoker to act", async () => {
    const [oldSerial, newSerial] = [uniqueSerial("OLD"), uniqueSerial("NEW")];
    await provisionedRow(oldSerial);
    const before = await row(oldSerial);

    await call(`/devices/${oldSerial}/replace`, { newSerialNumber: newSerial });

    const after = await row(oldSerial);
    expect(after).toMatchObject({ status: "REVOKED", replacedBy: newSerial });
    expect(revocationReason({ eventName: "MODIFY", oldImage: before, newImage: after })).toBe("revoked");
  });

  test("GIVEN a replacement done WHEN the same request is sent again THEN 200 and both rows are unchanged", async () => {
    const [oldSerial, newSerial] = [uniqueSerial("OLD"), uniqueSerial("NEW")];
    await provisionedRow(oldSerial);
    await call(`/devices/${oldSerial}/replace`, { newSerialNumber: newSerial });
    const [oldRow, newRow] = [await row(oldSerial), await row(newSerial)];

    const res = await call(`/devices/${oldSerial}/replace`, { newSerialNumber: newSerial });

    expect(res.status).toBe(200);
    expect([await row(oldSerial), await row(newSerial)]).toEqual([oldRow, newRow]);
  });

  test("GIVEN a request cut off after the new row was written WHEN it is sent again THEN it finishes: the old row is revoked", async () => {
    const [oldSerial, newSerial] = [uniqueSerial("OLD"), uniqueSerial("NEW")];
    await provisionedRow(oldSerial);
    await seed(newSerial, { replaces: oldSerial });

    const res = await call(`/devices/${oldSerial}/replace`, { newSerialNumber: newSerial });

    expect(res.status).toBe(200);
    expect(await row(oldSerial)).toMatchObject({ status: "REVOKED", replacedBy: newSerial });
  });

  test("GIVEN two replacements of one serial racing WHEN both run THEN exactly one new serial exists and the old row names it", async () => {
    const oldSerial = uniqueSerial("OLD");
    const [a, b] = [uniqueSerial("NEWA"), uniqueSerial("NEWB")];
    await provisionedRow(oldSerial);

    const results = await Promise.all([
      call(`/devices/${oldSerial}/replace`, { newSerialNumber: a }),
      call(`/devices/${oldSerial}/replace`, { newSerialNumber: b }),
    ]);

    expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
    const winner = (await row(oldSerial))?.replacedBy;
    const loser = winner === a ? b : a;
    expect([a, b]).toContain(winner);
    expect(await row(winner!)).toMatchObject({ replaces: oldSerial });
    expect(await row(loser)).toBeUndefined();
  });

  test("fails when the serial was already replaced by another one: 409 naming it, nothing written", async () => {
    const [oldSerial, first, second] = [uniqueSerial("OLD"), uniqueSerial("NEW"), uniqueSerial("NEW")];
    await provisionedRow(oldSerial);
    await call(`/devices/${oldSerial}/replace`, { newSerialNumber: first });

    const res = await call(`/devices/${oldSerial}/replace`, { newSerialNumber: second });

    expect(res.status).toBe(409);
    expect(res.body.message).toContain(first);
    expect(await row(second)).toBeUndefined();
  });

  test("fails when the new serial is already registered: 409, and the old device is not revoked", async () => {
    const [oldSerial, taken] = [uniqueSerial("OLD"), uniqueSerial("TAKEN")];
    await provisionedRow(oldSerial);
    await seed(taken);

    const res = await call(`/devices/${oldSerial}/replace`, { newSerialNumber: taken });

    expect(res.status).toBe(409);
    expect(await row(oldSerial)).toMatchObject({ status: "PROVISIONED" });
    expect(await row(taken)).not.toHaveProperty("replaces");
  });

  test("fails when the old serial is not registered: 404 and the new serial is not written", async () => {
    const [oldSerial, newSerial] = [uniqueSerial("OLD"), uniqueSerial("NEW")];

    const res = await call(`/devices/${oldSerial}/replace`, { newSerialNumber: newSerial });

    expect(res.status).toBe(404);
    expect(await row(newSerial)).toBeUndefined();
  });

  test("fails when the new serial is reserved: 400 naming newSerialNumber, nothing written", async () => {
    const oldSerial = uniqueSerial("OLD");
    await provisionedRow(oldSerial);

    const res = await call(`/devices/${oldSerial}/replace`, { newSerialNumber: "provision-evil" });

    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([expect.objectContaining({ path: "newSerialNumber" })]);
    expect(await row(oldSerial)).toMatchObject({ status: "PROVISIONED" });
  });

  test("fails when the new serial is the old one: 400", async () => {
    const oldSerial = uniqueSerial("OLD");
    await provisionedRow(oldSerial);

    const res = await call(`/devices/${oldSerial}/replace`, { newSerialNumber: oldSerial });

    expect(res.status).toBe(400);
    expect(await row(oldSerial)).toMatchObject({ status: "PROVISIONED" });
  });

  test("fails when the body is missing: 400", async () => {
    const oldSerial = uniqueSerial("OLD");
    await provisionedRow(oldSerial);

    expect((await call(`/devices/${oldSerial}/replace`)).status).toBe(400);
  });
});

describe("with the provisioning hook", () => {
  test("GIVEN a revoked serial WHEN it is re-provisioned THEN the hook allows the Pi's new certificate", async () => {
    const serial = uniqueSerial();
    await seed(serial, { status: "REVOKED", certificateId: CERTIFICATE });
    expect(await hookAllows(serial, "cd".repeat(32))).toBe(false);

    await call(`/devices/${serial}/reprovision`);

    expect(await hookAllows(serial, "cd".repeat(32))).toBe(true);
  });

  test("GIVEN a re-provisioning with a new token hash WHEN a claim holder without the new token tries THEN the hook denies it", async () => {
    const serial = uniqueSerial();
    await provisionedRow(serial, { provisioningTokenSha256: tokenHash("old-card") });

    await call(`/devices/${serial}/reprovision`, { provisioningTokenSha256: tokenHash("new-card") });

    expect(await hookAllows(serial, "ef".repeat(32), "old-card")).toBe(false);
    expect(await hookAllows(serial, "ef".repeat(32), "new-card")).toBe(true);
  });

  test("GIVEN a replaced serial WHEN the old Pi tries to provision again THEN the hook denies it and allows the new serial", async () => {
    const [oldSerial, newSerial] = [uniqueSerial("OLD"), uniqueSerial("NEW")];
    await provisionedRow(oldSerial);

    await call(`/devices/${oldSerial}/replace`, { newSerialNumber: newSerial });

    expect(await hookAllows(oldSerial, "12".repeat(32))).toBe(false);
    expect(await hookAllows(newSerial, "34".repeat(32))).toBe(true);
  });
});

describe("routes", () => {
  test("fails when an unknown operation is named: 404", async () => {
    expect((await call(`/devices/${uniqueSerial()}/explode`)).status).toBe(404);
  });

  test("fails when an operation is called with GET: 405 naming POST", async () => {
    const result = await h.mod.handler(apiEvent("GET", `/devices/${uniqueSerial()}/reprovision`), { awsRequestId: "req-2" });
    expect(result.statusCode).toBe(405);
    expect(result.headers?.Allow).toBe("POST");
  });
});
