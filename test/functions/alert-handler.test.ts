import { getItem, loadIsolated, putItem, TOPIC_ARN, uniqueSerial, useSnsHandler } from "./helpers";
import type { RunningDynalite } from "../support/dynalite";

type AlertModule = typeof import("../../functions/alert-handler");
const ALERT = "../../functions/alert-handler";

const baseEnv = (db: RunningDynalite = h.db): Record<string, string | undefined> => ({
  ALERT_TOPIC_ARN: TOPIC_ARN,
  ALERT_STATE_TABLE_NAME: db.alertStateTableName,
  ALERT_COOLDOWN_SECONDS: "300",
  ENVIRONMENT: "test",
  AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
});

function deviceError(thingName: string, overrides: Record<string, unknown> = {}) {
  return {
    id: "cmd-42",
    command: "reboot-now",
    code: "UNKNOWN_COMMAND",
    message: 'command "reboot-now" is not supported',
    thingName,
    at: "2026-11-22T10:00:00.000Z",
    receivedAt: Date.now(),
    ...overrides,
  };
}

const publishes = () => h.publishes();
const alertState = (alertKey: string) => getItem(h.db.client, h.db.alertStateTableName, { alertKey });

const h = useSnsHandler<AlertModule>(ALERT, baseEnv);

describe("alert handler", () => {
  test("publishes a readable alert for a new error", async () => {
    // GIVEN a device that has not reported this error recently
    const thing = uniqueSerial();
    // WHEN it reports the error
    const result = await h.mod.handler(deviceError(thing));
    // THEN one alert goes to the topic with the code, message and device
    expect(result.status).toBe("sent");
    expect(publishes()).toHaveLength(1);
    const [alert] = publishes();
    expect(alert.TopicArn).toBe(TOPIC_ARN);
    expect(alert.Subject).toBe(`[test] ${thing} error UNKNOWN_COMMAND: command "reboot-now" is not supported`);
    expect(alert.Message).toContain(`Device ${thing} reported an error in test.`);
    expect(alert.Message).toContain("Command:     reboot-now");
  });

  test("suppresses a repeat of the same error within the cooldown", async () => {
    // GIVEN an error that was just alerted
    const thing = uniqueSerial();
    await h.mod.handler(deviceError(thing));
    // WHEN the device reports it again
    const result = await h.mod.handler(deviceError(thing));
    // THEN nothing more is published
    expect(result.status).toBe("suppressed");
    expect(publishes()).toHaveLength(1);
  });

  test("alerts separately for another error code of the same device", async () => {
    // GIVEN an error that was just alerted
    const thing = uniqueSerial();
    await h.mod.handler(deviceError(thing));
    // WHEN the device reports a different code
    const result = await h.mod.handler(deviceError(thing, { code: "SENSOR_FAILURE" }));
    // THEN it is alerted too
    expect(result.status).toBe("sent");
    expect(publishes()).toHaveLength(2);
  });

  test("writes the cooldown row with a TTL in epoch seconds", async () => {
    // GIVEN a new error
    const thing = uniqueSerial();
    const before = Math.floor(Date.now() / 1000);
    // WHEN it is alerted
    const result = await h.mod.handler(deviceError(thing));
    // THEN the alert-state row expires one cooldown later
    const row = await alertState(result.alertKey as string);
    expect(row?.expiresAt).toBeGreaterThanOrEqual(before + 300);
    expect(row?.expiresAt).toBeLessThanOrEqual(before + 301);
  });

  test("alerts again when an expired row has not been deleted by TTL yet", async () => {
    // GIVEN a cooldown row that expired a minute ago but is still present
    const thing = uniqueSerial();
    const key = `device-error#${thing}#UNKNOWN_COMMAND`;
    await putItem(h.db.client, h.db.alertStateTableName, { alertKey: key, expiresAt: Math.floor(Date.now() / 1000) - 60, suppressedCount: 3 });
    // WHEN the error is reported again
    const result = await h.mod.handler(deviceError(thing));
    // THEN it is alerted, mentioning the repeats swallowed by the previous window
    expect(result.status).toBe("sent");
    expect(publishes()[0].Message).toContain("3 repeat(s) of this error were suppressed");
  });

  test("counts the suppressed repeats on the cooldown row", async () => {
    // GIVEN an error that was just alerted
    const thing = uniqueSerial();
    const { alertKey } = await h.mod.handler(deviceError(thing));
    // WHEN it is reported twice more
    await h.mod.handler(deviceError(thing));
    await h.mod.handler(deviceError(thing));
    // THEN the row counts two suppressed repeats
    expect((await alertState(alertKey as string))?.suppressedCount).toBe(2);
  });

  test("publishes exactly once when 20 identical errors arrive at once", async () => {
    // GIVEN a device flooding one error
    const thing = uniqueSerial();
    // WHEN 20 invocations run concurrently
    const results = await Promise.all(Array.from({ length: 20 }, () => h.mod.handler(deviceError(thing))));
    // THEN one alert is sent and 19 are suppressed
    expect(results.filter((r) => r.status === "sent")).toHaveLength(1);
    expect(publishes()).toHaveLength(1);
  });

  test("keeps the subject within SNS's 100 ASCII characters", async () => {
    // GIVEN an error with a long, non-ASCII, multi-line message
    const thing = uniqueSerial();
    // WHEN it is alerted
    await h.mod.handler(deviceError(thing, { message: `Température ${"é".repeat(200)}\nsecond line` }));
    // THEN the subject is short, single-line ASCII
    const { Subject } = publishes()[0];
    expect(Subject.length).toBeLessThanOrEqual(100);
    expect(Subject).toMatch(/^[\x20-\x7E]+$/);
  });

  test("releases the cooldown and throws when SNS fails, so the retry alerts", async () => {
    // GIVEN SNS failing once
    const thing = uniqueSerial();
    h.snsMock.on(h.sns.PublishCommand).rejectsOnce(new Error("SNS unavailable")).resolves({ MessageId: "msg-2" });
    // WHEN the error is handled and Lambda retries it
    await expect(h.mod.handler(deviceError(thing))).rejects.toThrow("SNS unavailable");
    const retry = await h.mod.handler(deviceError(thing));
    // THEN the retry publishes
    expect(retry.status).toBe("sent");
    expect(publishes()).toHaveLength(2);
  });
});

describe("alert handler: malformed events are logged and dropped", () => {
  test.each<[string, unknown]>([
    ["the event is null", null],
    ["the event is a number", 7],
    ["the event is an array", [deviceError("DROPPED001")]],
    ["the event is empty", {}],
    ["thingName is missing", { ...deviceError("DROPPED001"), thingName: undefined }],
    ["thingName is a topic wildcard", deviceError("DROP+PED01")],
    ["code is missing", { ...deviceError("DROPPED001"), code: undefined }],
    ["code has spaces", deviceError("DROPPED001", { code: "SOMETHING BAD" })],
    ["code is 65 characters", deviceError("DROPPED001", { code: "E".repeat(65) })],
    ["message is a number", deviceError("DROPPED001", { message: 500 })],
    ["receivedAt is a string", deviceError("DROPPED001", { receivedAt: "yesterday" })],
  ])("fails when %s", async (_name, event) => {
    // GIVEN a malformed error event
    // WHEN it is handled
    const result = await h.mod.handler(event);
    // THEN it is dropped with a warning, nothing is published or stored
    expect(result).toEqual({ status: "dropped" });
    expect(h.logs.lines()[0]).toMatchObject({ level: "warn", message: "malformed device error dropped" });
    expect(publishes()).toHaveLength(0);
    expect(await alertState("device-error#DROPPED001#UNKNOWN_COMMAND")).toBeUndefined();
  });

  test("fails when the configuration is invalid (the invocation errors)", async () => {
    // GIVEN the handler loaded without a topic
    const misconfigured = loadIsolated<AlertModule>(ALERT, { ...baseEnv(), ALERT_TOPIC_ARN: undefined }).mod.handler;
    // WHEN it is invoked
    // THEN it throws, so the function's error metric and alarm fire
    await expect(misconfigured(deviceError(uniqueSerial()))).rejects.toThrow(/ALERT_TOPIC_ARN/);
  });
});
