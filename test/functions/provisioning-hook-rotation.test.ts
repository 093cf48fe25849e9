/**
 * The pre-provisioning hook in rotation mode (functions/provisioning-hook/rotation.ts) against dynalite:
 * only the row's current certificate may rotate, and only a PROVISIONED row; hostile callers are denied
 * without a write.
 */
import type { RunningDynalite } from "../support/dynalite";
import { ALLOWED_DEVICE_TYPES, getItem, putItem, registeredDevice, uniqueSerial, useHandler } from "./helpers";

type HookModule = typeof import("../../functions/provisioning-hook");
const ROTATION = "shf-test-pi-rotation";
const CURRENT = "a".repeat(64);
const NEXT = "b".repeat(64);
const OTHER = "c".repeat(64);
const DENY = { allowProvisioning: false };

const h = useHandler<HookModule>("../../functions/provisioning-hook", (db: RunningDynalite) => ({
  REGISTRY_TABLE_NAME: db.registryTableName,
  ALLOWED_DEVICE_TYPES,
  PROVISIONING_LEASE_SECONDS: "600",
  NAME_PREFIX: "shf-test",
  ROTATION_TEMPLATE_NAME: ROTATION,
  ENVIRONMENT: "test",
  AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
}));

function rotationEvent(serialNumber: string, caller: string, next: string, template = ROTATION) {
  return {
    claimCertificateId: caller,
    certificateId: next,
    certificatePem: "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----",
    templateArn: `arn:aws:iot:eu-west-1:123456789012:provisioningtemplate/${template}`,
    clientId: serialNumber,
    parameters: { SerialNumber: serialNumber },
  };
}

const row = (serialNumber: string) => getItem(h.db.client, h.db.registryTableName, { serialNumber });

async function provisioned(overrides: Record<string, unknown> = {}): Promise<string> {
  const serial = uniqueSerial();
  await putItem(h.db.client, h.db.registryTableName, registeredDevice(serial, { status: "PROVISIONED", certificateId: CURRENT, ...overrides }));
  return serial;
}

describe("provisioning hook, rotation mode: allow", () => {
  test("GIVEN a PROVISIONED row holding the caller's certificate WHEN it rotates THEN it is allowed with no overrides and the row moves to the new certificate", async () => {
    const serial = await provisioned();
    const before = Date.now();
    expect(await h.mod.handler(rotationEvent(serial, CURRENT, NEXT))).toEqual({ allowProvisioning: true });
    const after = await row(serial);
    expect(after).toMatchObject({ status: "PROVISIONED", certificateId: NEXT, rotatedFromCertificateId: CURRENT });
    expect(after?.rotationStartedAt).toBeGreaterThanOrEqual(before);
  });

  test("GIVEN a rotation already applied WHEN the same request is retried (lost answer) THEN it is allowed again and nothing changes", async () => {
    const serial = await provisioned();
    await h.mod.handler(rotationEvent(serial, CURRENT, NEXT));
    const once = await row(serial);
    expect(await h.mod.handler(rotationEvent(serial, CURRENT, NEXT))).toEqual({ allowProvisioning: true });
    expect(await row(serial)).toMatchObject({ certificateId: NEXT, rotatedFromCertificateId: CURRENT, rotationStartedAt: expect.any(Number) });
    expect((await row(serial))?.status).toBe(once?.status);
  });
});

describe("provisioning hook, rotation mode: hostile callers are denied and nothing is written", () => {
  test("fails when another device's certificate asks for this serial", async () => {
    const serial = await provisioned();
    const before = await row(serial);
    expect(await h.mod.handler(rotationEvent(serial, OTHER, NEXT))).toEqual(DENY);
    expect(await row(serial)).toEqual(before);
  });

  test("fails when the claim certificate asks (it is never a row's certificate)", async () => {
    const serial = await provisioned();
    const before = await row(serial);
    expect(await h.mod.handler(rotationEvent(serial, "c1a1m".padEnd(64, "0"), NEXT))).toEqual(DENY);
    expect(await row(serial)).toEqual(before);
  });

  test("fails when the serial is revoked, even with the certificate it held", async () => {
    const serial = await provisioned({ status: "REVOKED" });
    expect(await h.mod.handler(rotationEvent(serial, CURRENT, NEXT))).toEqual(DENY);
    expect(await row(serial)).toMatchObject({ status: "REVOKED", certificateId: CURRENT });
  });

  test.each(["REGISTERED", "PROVISIONING"])("fails when the row is %s (not provisioned yet)", async (status) => {
    const serial = await provisioned({ status });
    expect(await h.mod.handler(rotationEvent(serial, CURRENT, NEXT))).toEqual(DENY);
    expect((await row(serial))?.certificateId).toBe(CURRENT);
  });

  test("fails when the serial is unknown, and creates no row", async () => {
    const serial = uniqueSerial();
    expect(await h.mod.handler(rotationEvent(serial, CURRENT, NEXT))).toEqual(DENY);
    expect(await row(serial)).toBeUndefined();
  });

  test("fails when an old rotation is replayed from the certificate that is no longer current", async () => {
    // GIVEN a device that rotated CURRENT -> NEXT
    const serial = await provisioned();
    await h.mod.handler(rotationEvent(serial, CURRENT, NEXT));
    // WHEN someone holding the old certificate asks for yet another one
    expect(await h.mod.handler(rotationEvent(serial, CURRENT, OTHER))).toEqual(DENY);
    // THEN the row still holds NEXT
    expect(await row(serial)).toMatchObject({ certificateId: NEXT, rotatedFromCertificateId: CURRENT });
  });

  test("fails when the new certificate is the caller's own", async () => {
    const serial = await provisioned();
    expect(await h.mod.handler(rotationEvent(serial, CURRENT, CURRENT))).toEqual(DENY);
  });

  test("GIVEN a PROVISIONED row WHEN its certificate runs the claim template THEN the claim rules apply (already provisioned)", async () => {
    const serial = await provisioned();
    const event = { ...rotationEvent(serial, CURRENT, NEXT, "fleet"), parameters: { SerialNumber: serial, DeviceType: "thermostat" } };
    expect(await h.mod.handler(event)).toEqual(DENY);
    expect((await row(serial))?.certificateId).toBe(CURRENT);
  });

  test("fails when a reserved serial is named", async () => {
    expect(await h.mod.handler(rotationEvent("shf-test-controller", CURRENT, NEXT))).toEqual(DENY);
  });
});
