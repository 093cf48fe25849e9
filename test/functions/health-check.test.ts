import { PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import { clearTable, loadIsolated, putItem, registeredDevice, TOPIC_ARN, useSnsHandler } from "./helpers";
import { mockClient } from "aws-sdk-client-mock";
import type { RunningDynalite } from "../support/dynalite";
import { createDocumentClient } from "../../functions/shared/aws";
import { runHealthCheck } from "../../functions/health-check/health";

type HealthModule = typeof import("../../functions/health-check");
const HEALTH = "../../functions/health-check";
const HOUR = 3600_000;
const SCHEDULE = { "detail-type": "Scheduled Event", source: "aws.events", time: "2026-11-22T06:00:00Z", detail: {} };

const baseEnv = (db: RunningDynalite = h.db): Record<string, string | undefined> => ({
  REGISTRY_TABLE_NAME: db.registryTableName,
  ALERT_TOPIC_ARN: TOPIC_ARN,
  HEALTH_OFFLINE_THRESHOLD_SECONDS: "3600",
  ENVIRONMENT: "test",
  AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
});
const publishes = () => h.publishes();

async function device(serial: string, overrides: Record<string, unknown>) {
  await putItem(h.db.client, h.db.registryTableName, registeredDevice(serial, { status: "PROVISIONED", ...overrides }));
}
const online = (serial: string) => device(serial, { connected: true, lastSeen: Date.now() - 5 * HOUR });
const offlineFor = (serial: string, ms: number, extra: Record<string, unknown> = {}) =>
  device(serial, { connected: false, lastSeen: Date.now() - ms, ...extra });

const h = useSnsHandler<HealthModule>(HEALTH, baseEnv, { beforeEachTest: (db) => clearTable(db.client, db.registryTableName, "serialNumber") });

describe("health check", () => {
  test("sends one summary listing the devices offline longer than the threshold", async () => {
    // GIVEN two devices offline for days and hours, one offline for minutes, one online
    await offlineFor("HEALTH0001", 3 * 24 * HOUR, { lastDisconnectReason: "MQTT_KEEP_ALIVE_TIMEOUT", metadata: { room: "attic" } });
    await offlineFor("HEALTH0002", 2 * HOUR);
    await offlineFor("HEALTH0003", 10 * 60_000);
    await online("HEALTH0004");
    // WHEN the daily check runs
    const result = await h.mod.handler(SCHEDULE);
    // THEN one message lists the two long outages, longest first
    expect(result.offline).toEqual(["HEALTH0001", "HEALTH0002"]);
    expect(publishes()).toHaveLength(1);
    const { Subject, Message, TopicArn } = publishes()[0];
    expect(TopicArn).toBe(TOPIC_ARN);
    expect(Subject).toBe("[test] Fleet health: 2 offline > 1h (of 4 active)");
    expect(Message).toMatch(
      /Offline for longer than 1h \(2\):\n {2}HEALTH0001 {2}thermostat {2}offline 3d \(last seen .*, MQTT_KEEP_ALIVE_TIMEOUT\) {2}room=attic\n {2}HEALTH0002/,
    );
    expect(Message).not.toContain("HEALTH0003");
  });

  test("counts devices by status", async () => {
    // GIVEN devices in every status
    await online("COUNT00001");
    await online("COUNT00002");
    await device("COUNT00003", { status: "REGISTERED" });
    await device("COUNT00004", { status: "PROVISIONING", provisioningStartedAt: Date.now() });
    await device("COUNT00005", { status: "REVOKED" });
    // WHEN the daily check runs
    await h.mod.handler(SCHEDULE);
    // THEN the summary has the counts
    expect(publishes()[0].Message).toContain("Devices: 5 (REGISTERED 1, PROVISIONING 1, PROVISIONED 2, REVOKED 1)");
    expect(publishes()[0].Message).toContain("Connected now: 2");
  });

  test("sends a short all-healthy message when nothing is wrong", async () => {
    // GIVEN only online devices
    await online("HEALTHY001");
    await online("HEALTHY002");
    // WHEN the daily check runs
    await h.mod.handler(SCHEDULE);
    // THEN one message says all is healthy
    expect(publishes()).toHaveLength(1);
    expect(publishes()[0].Subject).toBe("[test] Fleet health: all healthy (2 active devices)");
    expect(publishes()[0].Message).toContain("All active devices are healthy.");
  });

  test("says so when no devices are registered", async () => {
    // GIVEN an empty registry
    // WHEN the daily check runs
    await h.mod.handler(SCHEDULE);
    // THEN the summary says there are no devices
    expect(publishes()[0].Subject).toBe("[test] Fleet health: no devices registered");
  });

  test("does not list revoked devices", async () => {
    // GIVEN a revoked device offline for a week
    await offlineFor("REVOKED001", 7 * 24 * HOUR, { status: "REVOKED" });
    // WHEN the daily check runs
    const result = await h.mod.handler(SCHEDULE);
    // THEN it is counted but not listed
    expect(result.offline).toEqual([]);
    expect(publishes()[0].Message).not.toContain("REVOKED001");
  });

  test("lists devices stuck in PROVISIONING", async () => {
    // GIVEN a device the hook allowed two hours ago that never connected
    await device("STALLED001", { status: "PROVISIONING", provisioningStartedAt: Date.now() - 2 * HOUR });
    // WHEN the daily check runs
    const result = await h.mod.handler(SCHEDULE);
    // THEN it is listed as stuck
    expect(result.stalledProvisioning).toEqual(["STALLED001"]);
    expect(publishes()[0].Message).toContain("Provisioning not completed after 1h (1):\n  STALLED001");
  });

  test("follows scan pagination", async () => {
    // GIVEN 30 devices offline for a day and a scan page of 7 rows (logic called directly with its own SNS stub)
    for (let i = 0; i < 30; i += 1) await offlineFor(`PAGED${String(i).padStart(4, "0")}`, 24 * HOUR);
    const client = new SNSClient({});
    const direct = mockClient(client);
    direct.on(PublishCommand).resolves({ MessageId: "msg-paged" });
    // WHEN the check runs
    const { summary } = await runHealthCheck({
      ddb: createDocumentClient(),
      sns: client,
      tableName: h.db.registryTableName,
      topicArn: TOPIC_ARN,
      thresholdSeconds: 3600,
      environment: "test",
      now: Date.now,
      scanPageSize: 7,
    });
    // THEN all 30 are in the one summary
    expect(summary.offline).toHaveLength(30);
    expect(direct.commandCalls(PublishCommand)).toHaveLength(1);
  });

  test("fails when SNS rejects the summary (the invocation errors)", async () => {
    // GIVEN SNS failing
    h.snsMock.on(h.sns.PublishCommand).rejects(new Error("SNS unavailable"));
    // WHEN the daily check runs
    // THEN the invocation fails and the error is logged
    await expect(h.mod.handler(SCHEDULE)).rejects.toThrow("SNS unavailable");
    expect(h.logs.lines()[0]).toMatchObject({ level: "error", message: "health check failed" });
  });

  test.each([
    ["ALERT_TOPIC_ARN is missing", { ALERT_TOPIC_ARN: undefined }],
    ["HEALTH_OFFLINE_THRESHOLD_SECONDS is zero", { HEALTH_OFFLINE_THRESHOLD_SECONDS: "0" }],
  ])("fails when %s", async (_name, env) => {
    // GIVEN the handler loaded with a bad configuration
    const misconfigured = loadIsolated<HealthModule>(HEALTH, { ...baseEnv(), ...env }).mod.handler;
    // WHEN it runs
    // THEN it throws naming the variable
    await expect(misconfigured(SCHEDULE)).rejects.toThrow(/ALERT_TOPIC_ARN|HEALTH_OFFLINE_THRESHOLD_SECONDS/);
  });
});

describe("health check: offline devices by building", () => {
  test("groups a building outage into one headline and names it in the subject", async () => {
    // GIVEN all 4 devices of hq offline since 3 hours, 1 of 3 devices of lab offline, lab's others online
    const outageAt = Date.now() - 3 * HOUR;
    for (let i = 0; i < 4; i++) await device(`HQ${i}0000`, { connected: false, lastSeen: outageAt - i * 1000, metadata: { buildingId: "hq" } });
    await offlineFor("LAB00000", 2 * HOUR, { metadata: { buildingId: "lab" } });
    for (let i = 1; i < 3; i++) await device(`LAB${i}0000`, { connected: true, lastSeen: Date.now(), metadata: { buildingId: "lab" } });
    // WHEN the daily check runs
    await h.mod.handler(SCHEDULE);
    // THEN one summary: the subject names the building, the list is grouped under building headlines
    const { Subject, Message } = publishes()[0];
    expect(publishes()).toHaveLength(1);
    expect(Subject).toBe("[test] Fleet health: 5 offline > 1h (of 7 active); likely power or network out in hq");
    const since = new Date(outageAt).toISOString().slice(11, 16);
    expect(Message).toContain(
      `Buildings with every device offline (likely power or network, not the devices):\n  hq: 4 of 4 offline since ${since} UTC — likely power or network`,
    );
    expect(Message).toMatch(
      /Offline for longer than 1h \(5\):\n {2}hq: 4 of 4 offline since .* — likely power or network\n {4}HQ30000 .*\n {4}HQ20000 .*\n {4}HQ10000 .*\n {4}HQ00000 .*\n {2}lab: 1 of 3 offline since \d\d:\d\d UTC\n {4}LAB00000 /,
    );
  });
});
