/**
 * The errors and responses rules select the device's documented fields explicitly, so a payload can
 * neither spoof what the rule derives (`thingName` from the topic, `receivedAt` from the arrival) nor
 * smuggle anything else to the alert handler or the responses log. Checked on the rules the stacks
 * synthesize, run by the twin's rules engine.
 */
import { loadConfig } from "../../../config";
import { resourceNames } from "../../../stacks/shared/naming";
import { deviceErrorSchema } from "../../../functions/alert-handler/alerts";
import { DEVICE_ERROR_FIELDS, DEVICE_RESPONSE_FIELDS, RULE_DERIVED_FIELDS, deviceMessageSql } from "../../../functions/shared/device-messages";
import { synthesizeIot } from "../../../local/iot-core/synthesized-iot";
import { RulesEngine } from "../../../local/rules/engine";
import type { SqlValue } from "../../../local/rules/sql";
import type { SynthesizedTopicRules } from "../../../local/rules/synthesized-rules";

jest.setTimeout(60_000);

const config = loadConfig("dev");
const names = resourceNames(config);
const ARRIVAL = Date.UTC(2026, 10, 26, 10, 0, 0, 0);
const THING = "10000000c0de0007";
const VICTIM = "10000000c0de0099";

let rules: SynthesizedTopicRules;
beforeAll(() => {
  rules = synthesizeIot("dev").topicRules;
});

/** Runs one synthesized rule; returns what its Lambda and log actions received. */
async function outputsOf(ruleName: string, topic: string, payload: Record<string, unknown>) {
  const out: { lambda: Record<string, SqlValue>[]; logs: unknown[] } = { lambda: [], logs: [] };
  const engine = new RulesEngine({
    rules: rules.rules.filter((r) => r.name === ruleName),
    now: () => ARRIVAL,
    targets: {
      invokeLambda: (_fn, event) => void out.lambda.push(event),
      putItem: async () => undefined,
      putRecord: () => undefined,
      putLogEvent: async (_group, message) => void out.logs.push(JSON.parse(message)),
    },
  });
  await engine.dispatch(topic, Buffer.from(JSON.stringify(payload)));
  return out;
}

test("GIVEN the synthesized errors and responses rules THEN neither selects * and both name the device's fields", () => {
  const errors = rules.rules.find((r) => r.name === names.errorsRule)!;
  const responses = rules.rules.find((r) => r.name === names.responsesRule)!;
  expect(errors.sql).toBe("SELECT id, command, code, message, at, topic(2) AS thingName, timestamp() AS receivedAt FROM 'devices/+/errors'");
  expect(responses.sql).toBe("SELECT id, command, status, result, completedAt, topic(2) AS thingName, timestamp() AS receivedAt FROM 'devices/+/responses'");
});

test("GIVEN the alert handler's event schema THEN it accepts exactly the selected fields plus what the rule derives", () => {
  expect(Object.keys(deviceErrorSchema.shape).sort()).toEqual([...DEVICE_ERROR_FIELDS, ...Object.keys(RULE_DERIVED_FIELDS)].sort());
});

test("GIVEN an error payload naming another device and a forged arrival time WHEN the errors rule runs THEN the alert is for the publishing device at the real arrival", async () => {
  const { lambda } = await outputsOf(names.errorsRule, `devices/${THING}/errors`, {
    id: "c-9",
    command: "reboot",
    code: "HANDLER_ERROR",
    message: "boom",
    at: "2026-11-26T09:59:59Z",
    thingName: VICTIM,
    receivedAt: 0,
  });
  expect(lambda).toEqual([
    { id: "c-9", command: "reboot", code: "HANDLER_ERROR", message: "boom", at: "2026-11-26T09:59:59Z", thingName: THING, receivedAt: ARRIVAL },
  ]);
});

test("GIVEN an error payload with fields outside the contract WHEN the errors rule runs THEN none of them reach the alert handler", async () => {
  const { lambda } = await outputsOf(names.errorsRule, `devices/${THING}/errors`, {
    code: "X",
    alertTopicArn: "arn:aws:sns:eu-west-1:999999999999:evil",
    cooldownSeconds: 0,
    subject: "spoof",
  });
  expect(lambda).toEqual([{ code: "X", thingName: THING, receivedAt: ARRIVAL }]);
});

test("GIVEN a response naming another device WHEN the responses rule runs THEN the log line names the publishing device only", async () => {
  const { logs } = await outputsOf(names.responsesRule, `devices/${THING}/responses`, {
    id: "r-1",
    status: "ok",
    result: { uptime: 5 },
    thingName: VICTIM,
    injected: true,
  });
  expect(logs).toEqual([{ id: "r-1", status: "ok", result: { uptime: 5 }, thingName: THING, receivedAt: ARRIVAL }]);
});

describe("deviceMessageSql", () => {
  test("fails when a field is one the rule derives (the payload would choose it)", () => {
    expect(() => deviceMessageSql(["code", "thingName"], "devices/+/errors")).toThrow(/thingName.*derived by the rule/);
  });

  test("fails when a field is not a plain identifier", () => {
    expect(() => deviceMessageSql(["code, *"], "devices/+/errors")).toThrow(/plain identifier/);
  });

  test("lists the response fields in the documented order", () => {
    expect(deviceMessageSql(DEVICE_RESPONSE_FIELDS, "devices/+/responses")).toMatch(/^SELECT id, command, status, result, completedAt, /);
  });
});
