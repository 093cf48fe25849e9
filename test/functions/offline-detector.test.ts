import { getItem, putItem, registeredDevice, TOPIC_ARN, uniqueSerial, useSnsHandler } from "./helpers";

type DetectorModule = typeof import("../../functions/offline-detector");
const DETECTOR = "../../functions/offline-detector";

const T0 = Date.parse("2026-11-22T10:00:00.000Z");

function lifecycle(clientId: string, eventType: string, timestamp: number, extra: Record<string, unknown> = {}) {
  return {
    clientId,
    timestamp,
    eventType,
    sessionIdentifier: "00000000-0000-0000-0000-000000000000",
    principalIdentifier: "1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef",
    versionNumber: 1,
    ...(eventType === "disconnected" ? { clientInitiatedDisconnect: false, disconnectReason: "CONNECTION_LOST" } : {}),
    ...extra,
  };
}

const registry = (serialNumber: string) => getItem(h.db.client, h.db.registryTableName, { serialNumber });

async function provisionedDevice(overrides: Record<string, unknown> = {}): Promise<string> {
  const serial = uniqueSerial();
  await putItem(h.db.client, h.db.registryTableName, registeredDevice(serial, { status: "PROVISIONED", ...overrides }));
  return serial;
}

const h = useSnsHandler<DetectorModule>(DETECTOR, (db) => ({
  REGISTRY_TABLE_NAME: db.registryTableName,
  ALERT_TOPIC_ARN: TOPIC_ARN,
  ENVIRONMENT: "test",
  AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
}));

describe("offline detector: claim connections", () => {
  test.each([
    ["connected", "provision-"],
    ["disconnected", "provision-"],
    ["connected", "PROVISION-"],
    ["disconnected", "Provision-"],
  ])("GIVEN a row named like a claim client WHEN a %s event of %s<serial> arrives THEN the row is unchanged", async (eventType, prefix) => {
    // GIVEN a PROVISIONING row whose serial is a claim client id (registered before such serials were refused)
    const serial = `${prefix}${uniqueSerial()}`;
    await putItem(
      h.db.client,
      h.db.registryTableName,
      registeredDevice(serial, {
        status: "PROVISIONING",
        provisioningStartedAt: T0 - 1000,
        connected: true,
        lastSeen: T0 - 1000,
        lastLifecycleTimestamp: T0 - 1000,
      }),
    );
    const before = await registry(serial);
    // WHEN a claim holder connects or disconnects with that client id
    const result = await h.mod.handler(lifecycle(serial, eventType, T0));
    // THEN nothing is written (no PROVISIONED, no connectivity flip)
    expect(result.status).toBe("ignored-claim-client");
    expect(await registry(serial)).toEqual(before);
  });

  test("GIVEN a PROVISIONING device WHEN its claim connection (provision-<serial>) comes and goes THEN its row is unchanged", async () => {
    // GIVEN a device the hook allowed
    const serial = uniqueSerial();
    await putItem(h.db.client, h.db.registryTableName, registeredDevice(serial, { status: "PROVISIONING", provisioningStartedAt: T0 - 1000 }));
    const before = await registry(serial);
    // WHEN its claim connection's lifecycle events arrive
    await h.mod.handler(lifecycle(`provision-${serial}`, "connected", T0));
    await h.mod.handler(lifecycle(`provision-${serial}`, "disconnected", T0 + 1000));
    // THEN the device's row is untouched
    expect(await registry(serial)).toEqual(before);
  });
});

describe("offline detector: lifecycle events", () => {
  test("records a connection", async () => {
    // GIVEN a provisioned device
    const serial = await provisionedDevice();
    // WHEN it connects
    const result = await h.mod.handler(lifecycle(serial, "connected", T0));
    // THEN the row says connected, seen at the event time
    expect(result.status).toBe("recorded");
    expect(await registry(serial)).toMatchObject({ connected: true, lastSeen: T0, lastLifecycleTimestamp: T0 });
  });

  test("records a disconnection with its reason", async () => {
    // GIVEN a connected device
    const serial = await provisionedDevice({ connected: true, lastSeen: T0, lastLifecycleTimestamp: T0 });
    // WHEN it disconnects
    await h.mod.handler(lifecycle(serial, "disconnected", T0 + 1000));
    // THEN the row says disconnected since then
    expect(await registry(serial)).toMatchObject({ connected: false, lastSeen: T0 + 1000, lastDisconnectReason: "CONNECTION_LOST" });
  });

  test("ignores an event older than the one already applied", async () => {
    // GIVEN a device whose disconnection at T0+5s was applied
    const serial = await provisionedDevice();
    await h.mod.handler(lifecycle(serial, "disconnected", T0 + 5000));
    // WHEN the earlier connection event arrives late
    const result = await h.mod.handler(lifecycle(serial, "connected", T0));
    // THEN it is ignored and the device stays disconnected
    expect(result.status).toBe("ignored-stale-or-unknown");
    expect(await registry(serial)).toMatchObject({ connected: false, lastLifecycleTimestamp: T0 + 5000 });
  });

  test("ignores a duplicate event", async () => {
    // GIVEN an applied connection event
    const serial = await provisionedDevice();
    await h.mod.handler(lifecycle(serial, "connected", T0));
    const before = await registry(serial);
    // WHEN AWS delivers it again
    const result = await h.mod.handler(lifecycle(serial, "connected", T0));
    // THEN nothing changes
    expect(result.status).toBe("ignored-stale-or-unknown");
    expect(await registry(serial)).toEqual(before);
  });

  test("moves a PROVISIONING device to PROVISIONED on its first connection", async () => {
    // GIVEN a device the hook allowed at T0
    const serial = uniqueSerial();
    await putItem(
      h.db.client,
      h.db.registryTableName,
      registeredDevice(serial, { status: "PROVISIONING", provisioningStartedAt: T0, provisioningClientId: "claim" }),
    );
    // WHEN it connects with its new certificate
    const result = await h.mod.handler(lifecycle(serial, "connected", T0 + 2000));
    // THEN it is PROVISIONED from that moment
    expect(result.status).toBe("provisioned");
    expect(await registry(serial)).toMatchObject({ status: "PROVISIONED", provisionedAt: T0 + 2000, connected: true });
  });

  test("does not count a connection older than the provisioning as its first", async () => {
    // GIVEN a device the hook allowed at T0
    const serial = uniqueSerial();
    await putItem(h.db.client, h.db.registryTableName, registeredDevice(serial, { status: "PROVISIONING", provisioningStartedAt: T0 }));
    // WHEN a connection event from before T0 arrives
    await h.mod.handler(lifecycle(serial, "connected", T0 - 1000));
    // THEN the device is still PROVISIONING
    expect((await registry(serial))?.status).toBe("PROVISIONING");
  });

  test("moves to PROVISIONED even when the connection event arrives after a newer disconnect", async () => {
    // GIVEN a PROVISIONING device whose disconnect at T0+9s was applied first
    const serial = uniqueSerial();
    await putItem(h.db.client, h.db.registryTableName, registeredDevice(serial, { status: "PROVISIONING", provisioningStartedAt: T0 }));
    await h.mod.handler(lifecycle(serial, "disconnected", T0 + 9000));
    // WHEN its connection at T0+2s arrives late
    const result = await h.mod.handler(lifecycle(serial, "connected", T0 + 2000));
    // THEN it is PROVISIONED but stays disconnected
    expect(result.status).toBe("provisioned-stale");
    expect(await registry(serial)).toMatchObject({ status: "PROVISIONED", provisionedAt: T0 + 2000, connected: false });
  });

  test("keeps a REGISTERED device REGISTERED when it connects", async () => {
    // GIVEN a device that was never allowed by the hook
    const serial = uniqueSerial();
    await putItem(h.db.client, h.db.registryTableName, registeredDevice(serial));
    // WHEN a client with its serial connects
    await h.mod.handler(lifecycle(serial, "connected", T0));
    // THEN only connectivity is recorded
    expect(await registry(serial)).toMatchObject({ status: "REGISTERED", connected: true });
  });

  test("clears the offline alert mark when the device reconnects", async () => {
    // GIVEN a device that was alerted as offline
    const serial = await provisionedDevice({
      connected: false,
      lastSeen: T0,
      lastLifecycleTimestamp: T0,
      offlineAlertedAt: T0 + 700_000,
      lastDisconnectReason: "CONNECTION_LOST",
    });
    // WHEN it reconnects
    await h.mod.handler(lifecycle(serial, "connected", T0 + 800_000));
    // THEN the mark and the disconnect reason are gone, re-arming the alert
    const row = await registry(serial);
    expect(row?.offlineAlertedAt).toBeUndefined();
    expect(row?.lastDisconnectReason).toBeUndefined();
  });

  test.each([
    ["a claim client (UUID)", "221a6d10-9c7f-42f1-9153-e52e6fc869c1", "ignored-stale-or-unknown"],
    ["the controller", "smart-home-controller", "ignored-stale-or-unknown"],
    ["a client id that cannot be a serial", "iotconsole-1700000000000-0:with:colons", "ignored-not-a-device"],
  ])("ignores %s without creating a row", async (_name, clientId, status) => {
    // GIVEN a client id that is not in the registry
    // WHEN it connects and disconnects
    const connected = await h.mod.handler(lifecycle(clientId, "connected", T0));
    await h.mod.handler(lifecycle(clientId, "disconnected", T0 + 1));
    // THEN nothing is written
    expect(connected.status).toBe(status);
    expect(await registry(clientId)).toBeUndefined();
  });
});

describe("offline detector: malformed events are logged and dropped", () => {
  test.each<[string, unknown]>([
    ["the event is null", null],
    ["the event is a string", "connected"],
    ["the event is an array", [lifecycle("DROPPED001", "connected", T0)]],
    ["clientId is missing", { ...lifecycle("DROPPED001", "connected", T0), clientId: undefined }],
    ["timestamp is a string", lifecycle("DROPPED001", "connected", T0, { timestamp: "2026-11-22T10:00:00Z" })],
    ["timestamp is negative", lifecycle("DROPPED001", "connected", -1)],
    ["eventType is subscribed", lifecycle("DROPPED001", "subscribed", T0)],
    ["detail-type is not a schedule", { "detail-type": "EC2 Instance State-change Notification", source: "aws.ec2" }],
  ])("fails when %s", async (_name, event) => {
    // GIVEN a registered device the event might point at
    await putItem(h.db.client, h.db.registryTableName, registeredDevice("DROPPED001"));
    // WHEN the malformed event is handled
    const result = await h.mod.handler(event);
    // THEN it is dropped with a warning and nothing changes
    expect(result).toEqual({ status: "dropped" });
    expect(h.logs.lines()[0]).toMatchObject({ level: "warn" });
    expect((await registry("DROPPED001"))?.connected).toBeUndefined();
  });
});

describe("offline detector: certificate rotation completes on the new certificate's connection", () => {
  const OLD = "a".repeat(64);
  const NEW = "b".repeat(64);

  test("GIVEN a rotated row WHEN the thing connects with the new certificate THEN the old one is queued for revocation, once", async () => {
    const serial = await provisionedDevice({ certificateId: NEW, rotatedFromCertificateId: OLD, lastLifecycleTimestamp: T0 - 10 });
    const result = await h.mod.handler(lifecycle(serial, "connected", T0, { principalIdentifier: NEW }));
    expect(result.status).toBe("rotation-completed");
    const row = await registry(serial);
    expect(row).toMatchObject({ connected: true, certificateId: NEW, revokeCertificatesRequestedAt: expect.any(String) });
    expect(row?.rotatedFromCertificateId).toBeUndefined();
    // A replayed event changes nothing more.
    const replay = await h.mod.handler(lifecycle(serial, "connected", T0, { principalIdentifier: NEW }));
    expect(replay.status).not.toBe("rotation-completed");
    expect((await registry(serial))?.revokeCertificatesRequestedAt).toBe(row?.revokeCertificatesRequestedAt);
  });

  test("GIVEN a rotated row WHEN the thing connects with the OLD certificate THEN nothing is revoked", async () => {
    const serial = await provisionedDevice({ certificateId: NEW, rotatedFromCertificateId: OLD });
    const result = await h.mod.handler(lifecycle(serial, "connected", T0, { principalIdentifier: OLD }));
    expect(result.status).toBe("recorded");
    const row = await registry(serial);
    expect(row?.revokeCertificatesRequestedAt).toBeUndefined();
    expect(row?.rotatedFromCertificateId).toBe(OLD);
  });

  test("GIVEN a rotated row WHEN a late (stale) connected event of the new certificate arrives THEN the rotation still completes", async () => {
    const serial = await provisionedDevice({ certificateId: NEW, rotatedFromCertificateId: OLD, lastLifecycleTimestamp: T0 + 1000 });
    const result = await h.mod.handler(lifecycle(serial, "connected", T0, { principalIdentifier: NEW }));
    expect(result.status).toBe("rotation-completed");
    expect((await registry(serial))?.revokeCertificatesRequestedAt).toEqual(expect.any(String));
  });

  test("GIVEN a REVOKED row carrying a rotation WHEN the new certificate's event arrives THEN it is not touched", async () => {
    const serial = await provisionedDevice({ status: "REVOKED", certificateId: NEW, rotatedFromCertificateId: OLD });
    await h.mod.handler(lifecycle(serial, "connected", T0, { principalIdentifier: NEW }));
    expect((await registry(serial))?.rotatedFromCertificateId).toBe(OLD);
  });
});
