import { PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import { clearTable, getItem, putItem, registeredDevice, TOPIC_ARN, useSnsHandler } from "./helpers";
import { mockClient } from "aws-sdk-client-mock";
import { createDocumentClient } from "../../functions/shared/aws";
import { sweepOfflineDevices } from "../../functions/offline-detector/sweep";

type DetectorModule = typeof import("../../functions/offline-detector");
const DETECTOR = "../../functions/offline-detector";

const GRACE_MS = 600_000;
const SCHEDULE = {
  version: "0",
  id: "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
  "detail-type": "Scheduled Event",
  source: "aws.events",
  account: "123456789012",
  time: "2026-11-22T10:00:00Z",
  region: "eu-west-1",
  resources: ["arn:aws:events:eu-west-1:123456789012:rule/offline-sweep"],
  detail: {},
};

const registry = (serialNumber: string) => getItem(h.db.client, h.db.registryTableName, { serialNumber });
const publishes = () => h.publishes();

/** A device disconnected `offlineMs` ago. */
async function offlineDevice(serial: string, offlineMs: number, overrides: Record<string, unknown> = {}) {
  const lastSeen = Date.now() - offlineMs;
  await putItem(
    h.db.client,
    h.db.registryTableName,
    registeredDevice(serial, {
      status: "PROVISIONED",
      connected: false,
      lastSeen,
      lastLifecycleTimestamp: lastSeen,
      lastDisconnectReason: "CONNECTION_LOST",
      ...overrides,
    }),
  );
}

const h = useSnsHandler<DetectorModule>(
  DETECTOR,
  (db) => ({
    REGISTRY_TABLE_NAME: db.registryTableName,
    ALERT_TOPIC_ARN: TOPIC_ARN,
    OFFLINE_GRACE_SECONDS: String(GRACE_MS / 1000),
    ENVIRONMENT: "test",
    AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
  }),
  { beforeEachTest: (db) => clearTable(db.client, db.registryTableName, "serialNumber") },
);

describe("offline detector: scheduled sweep", () => {
  test("alerts a device disconnected for longer than the grace period", async () => {
    // GIVEN a device offline for 15 minutes (grace 10)
    await offlineDevice("OFFLINE0001", 15 * 60_000, { metadata: { room: "kitchen" } });
    // WHEN the sweep runs
    const result = await h.mod.handler(SCHEDULE);
    // THEN one alert names it, with how long and why
    expect(result).toEqual({ status: "swept", alerted: ["OFFLINE0001"] });
    expect(publishes()).toHaveLength(1);
    expect(publishes()[0].Subject).toBe("[test] Device OFFLINE0001 is offline");
    expect(publishes()[0].Message).toMatch(/OFFLINE0001 {2}thermostat {2}offline 15m \(since .*\), CONNECTION_LOST {2}room=kitchen/);
  });

  test("marks the device so the outage is alerted once", async () => {
    // GIVEN an offline device that one sweep alerted
    await offlineDevice("OFFLINE0002", 15 * 60_000);
    await h.mod.handler(SCHEDULE);
    // WHEN the next sweep runs
    const second = await h.mod.handler(SCHEDULE);
    // THEN it alerts nothing more, and the row carries the mark
    expect(second).toEqual({ status: "swept", alerted: [] });
    expect(publishes()).toHaveLength(1);
    expect((await registry("OFFLINE0002"))?.offlineAlertedAt).toEqual(expect.any(Number));
  });

  test("batches every newly offline device into one message", async () => {
    // GIVEN three devices offline for different times
    await offlineDevice("OFFLINE0003", 20 * 60_000);
    await offlineDevice("OFFLINE0004", 3 * 3600_000);
    await offlineDevice("OFFLINE0005", 11 * 60_000);
    // WHEN the sweep runs
    await h.mod.handler(SCHEDULE);
    // THEN one message lists all three, longest outage first
    expect(publishes()).toHaveLength(1);
    const { Subject, Message } = publishes()[0];
    expect(Subject).toBe("[test] 3 devices are offline");
    expect(Message.indexOf("OFFLINE0004")).toBeLessThan(Message.indexOf("OFFLINE0003"));
    expect(Message.indexOf("OFFLINE0003")).toBeLessThan(Message.indexOf("OFFLINE0005"));
  });

  test.each([
    ["within the grace period", () => offlineDevice("QUIET00001", 5 * 60_000)],
    ["connected", () => offlineDevice("QUIET00001", 60 * 60_000, { connected: true })],
    ["revoked", () => offlineDevice("QUIET00001", 60 * 60_000, { status: "REVOKED" })],
    ["registered but never connected", () => putItem(h.db.client, h.db.registryTableName, registeredDevice("QUIET00001"))],
  ])("sends nothing for a device %s", async (_name, seed) => {
    // GIVEN a device that must not be alerted
    await seed();
    // WHEN the sweep runs
    const result = await h.mod.handler(SCHEDULE);
    // THEN nothing is published
    expect(result).toEqual({ status: "swept", alerted: [] });
    expect(publishes()).toHaveLength(0);
  });

  test("alerts again for a new outage after a reconnect", async () => {
    // GIVEN a device alerted for an outage that then reconnected and dropped again 20 minutes ago
    await offlineDevice("OFFLINE0006", 60 * 60_000);
    await h.mod.handler(SCHEDULE);
    const reconnectAt = Date.now() - 30 * 60_000;
    await h.mod.handler({ clientId: "OFFLINE0006", eventType: "connected", timestamp: reconnectAt });
    await h.mod.handler({ clientId: "OFFLINE0006", eventType: "disconnected", timestamp: reconnectAt + 10 * 60_000 });
    // WHEN the sweep runs
    const result = await h.mod.handler(SCHEDULE);
    // THEN the new outage is alerted
    expect(result).toEqual({ status: "swept", alerted: ["OFFLINE0006"] });
    expect(publishes()).toHaveLength(2);
  });

  test("re-arms the devices and throws when SNS fails", async () => {
    // GIVEN an offline device and SNS failing
    await offlineDevice("OFFLINE0007", 15 * 60_000);
    h.snsMock.on(h.sns.PublishCommand).rejects(new Error("SNS unavailable"));
    // WHEN the sweep runs
    await expect(h.mod.handler(SCHEDULE)).rejects.toThrow("SNS unavailable");
    // THEN the device is not marked, so the retry alerts it
    expect((await registry("OFFLINE0007"))?.offlineAlertedAt).toBeUndefined();
  });

  test("follows scan pagination", async () => {
    // GIVEN 25 offline devices and a scan page of 4 rows (the logic called directly, with its own SNS stub)
    for (let i = 0; i < 25; i += 1) await offlineDevice(`PAGED${String(i).padStart(4, "0")}`, 15 * 60_000);
    const client = new SNSClient({});
    const direct = mockClient(client);
    direct.on(PublishCommand).resolves({ MessageId: "msg-paged" });
    // WHEN the sweep runs
    const result = await sweepOfflineDevices({
      ddb: createDocumentClient(),
      sns: client,
      tableName: h.db.registryTableName,
      topicArn: TOPIC_ARN,
      graceSeconds: GRACE_MS / 1000,
      environment: "test",
      now: Date.now,
      scanPageSize: 4,
    });
    // THEN all 25 are alerted in one message
    expect(result.alerted).toHaveLength(25);
    expect(direct.commandCalls(PublishCommand)).toHaveLength(1);
  });
});

describe("offline detector: outage triage by building", () => {
  const inBuilding = (buildingId: string) => ({ metadata: { buildingId, room: "r1" } });

  test("a building outage arrives as ONE grouped message naming the building", async () => {
    // GIVEN all 12 Pis of building hq disconnected together 15 minutes ago, and a healthy building lab
    const outageAt = Date.now() - 15 * 60_000;
    for (let i = 0; i < 12; i++) {
      const lastSeen = outageAt - i * 1000;
      await putItem(
        h.db.client,
        h.db.registryTableName,
        registeredDevice(`HQ${String(i).padStart(4, "0")}`, {
          status: "PROVISIONED",
          connected: false,
          lastSeen,
          lastLifecycleTimestamp: lastSeen,
          ...inBuilding("hq"),
        }),
      );
    }
    for (let i = 0; i < 3; i++)
      await putItem(
        h.db.client,
        h.db.registryTableName,
        registeredDevice(`LAB${i}000`, { status: "PROVISIONED", connected: true, lastSeen: Date.now(), ...inBuilding("lab") }),
      );
    // WHEN the sweep runs
    const result = await h.mod.handler(SCHEDULE);
    // THEN exactly one message, whose subject is the building's headline
    expect(result).toMatchObject({ status: "swept" });
    expect(publishes()).toHaveLength(1);
    const since = new Date(outageAt).toISOString().slice(11, 16);
    const { Subject, Message } = publishes()[0];
    expect(Subject).toBe(`[test] hq: 12 of 12 offline since ${since} UTC - likely power or network`);
    expect(Message).toContain(`  hq: 12 of 12 offline since ${since} UTC — likely power or network\n    HQ0011  thermostat  offline 15m`);
    expect(Message).toContain("A building with every device offline points at its power or internet connection");
    expect(Message.match(/^ {4}HQ\d{4} /gm)).toHaveLength(12);
    expect(Message).not.toContain("LAB");
  });

  test("a partial outage is grouped without blaming power or network", async () => {
    // GIVEN 2 of 5 devices of building lab offline, and one device without a building
    for (let i = 0; i < 5; i++) {
      if (i < 2) await offlineDevice(`LAB${i}000`, 20 * 60_000, inBuilding("lab"));
      else
        await putItem(
          h.db.client,
          h.db.registryTableName,
          registeredDevice(`LAB${i}000`, { status: "PROVISIONED", connected: true, lastSeen: Date.now(), ...inBuilding("lab") }),
        );
    }
    await offlineDevice("LOOSE0001", 20 * 60_000);
    // WHEN the sweep runs
    await h.mod.handler(SCHEDULE);
    // THEN one message with a headline per building, no outage claim
    const { Subject, Message } = publishes()[0];
    expect(Subject).toBe("[test] 3 devices are offline");
    expect(Message).toMatch(/ {2}lab: 2 of 5 offline since \d\d:\d\d UTC\n {4}LAB0000/);
    expect(Message).toContain("  (no building): 1 listed\n    LOOSE0001");
    expect(Message).not.toContain("likely power");
  });

  test("revoked devices do not count towards a building", async () => {
    // GIVEN 2 offline devices of hq and a revoked one that is connected=false too
    await offlineDevice("HQR0001", 20 * 60_000, inBuilding("hq"));
    await offlineDevice("HQR0002", 20 * 60_000, inBuilding("hq"));
    await offlineDevice("HQR0003", 20 * 60_000, { ...inBuilding("hq"), status: "REVOKED" });
    // WHEN the sweep runs
    await h.mod.handler(SCHEDULE);
    // THEN the building is 2 of 2
    expect(publishes()[0].Subject).toMatch(/^\[test\] hq: 2 of 2 offline since \d\d:\d\d UTC - likely power or network$/);
  });
});

describe("offline detector: building counts", () => {
  test("devices that never connected do not hide a building outage", async () => {
    // GIVEN 2 connected-then-lost devices of hq and one registered device of hq still in its box
    await offlineDevice("HQN0001", 20 * 60_000, { metadata: { buildingId: "hq" } });
    await offlineDevice("HQN0002", 20 * 60_000, { metadata: { buildingId: "hq" } });
    await putItem(h.db.client, h.db.registryTableName, registeredDevice("HQN0003", { metadata: { buildingId: "hq" } }));
    // WHEN the sweep runs
    await h.mod.handler(SCHEDULE);
    // THEN hq counts its 2 deployed devices, both offline
    expect(publishes()[0].Subject).toMatch(/^\[test\] hq: 2 of 2 offline since \d\d:\d\d UTC - likely power or network$/);
  });
});
