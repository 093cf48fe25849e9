/**
 * IOT-BASIC-INGEST-EXACT: a device may publish telemetry through Basic Ingest to exactly the store rule,
 * on its own thing's topic, and nothing wider: another thing, every rule, another rule, a rule the app
 * does not define, or an MQTT wildcard.
 */
import { ruleById } from "../../modules/policy-gate/rules";
import { StackView } from "../../modules/policy-gate/stack-view";
import { IOT, THING, iotPolicy, isAttached, variant, type Fixture } from "./fixture-kit";

const STORE_RULE = "shf_dev_telemetry_store";
const ERRORS_RULE = "shf_dev_device_errors";

/** A device policy that publishes on `topics`, in an app with the store and errors rules. */
function deviceWith(...topics: string[]): Fixture["pass"] {
  return variant(
    iotPolicy(
      { effect: "Allow", actions: ["iot:Connect"], resources: [`${IOT}:client/${THING}`], condition: isAttached },
      { effect: "Allow", actions: ["iot:Publish"], resources: topics.map((t) => `${IOT}:topic/${t}`) },
    ),
    (t) =>
      (t.resource.aws_iot_topic_rule = {
        store: { name: STORE_RULE, sql: "SELECT topic(2) AS thingName, metrics FROM 'devices/+/telemetry'", sql_version: "2016-03-23" },
        errors: { name: ERRORS_RULE, sql: "SELECT topic(2) AS thingName, code FROM 'devices/+/errors'", sql_version: "2016-03-23" },
      }),
  );
}

function findings(stack: Fixture["pass"]): string[] {
  return ruleById("IOT-BASIC-INGEST-EXACT")!
    .check(new StackView("iot", stack))
    .map((f) => f.detail);
}

test("GIVEN the store rule's Basic Ingest topic of the thing itself, beside the plain topic THEN the device policy passes", () => {
  expect(findings(deviceWith(`$aws/rules/${STORE_RULE}/devices/${THING}/telemetry`, `devices/${THING}/telemetry`))).toEqual([]);
});

test.each([
  ["another thing's name", `$aws/rules/${STORE_RULE}/devices/SN-OTHER/telemetry`, "not scoped to the thing"],
  ["the thing name inside a longer level", `$aws/rules/${STORE_RULE}/devices/${THING}-x/telemetry`, "not scoped to the thing"],
  ["every rule", `$aws/rules/*`, "wildcard"],
  ["every rule on the thing's topic", `$aws/rules/*/devices/${THING}/telemetry`, "wildcard"],
  ["a wildcard after the rule", `$aws/rules/${STORE_RULE}/*`, "wildcard"],
  ["a # (a wildcard only in filters, never a topic)", `$aws/rules/${STORE_RULE}/devices/${THING}/#`, "wildcard"],
  ["another rule of the app (its FROM is for errors)", `$aws/rules/${ERRORS_RULE}/devices/${THING}/telemetry`, "is not for"],
  ["a rule the app does not define", `$aws/rules/someone_elses_rule/devices/${THING}/telemetry`, "not a topic rule of this app"],
])("GIVEN a device policy reaching %s THEN it fails", (_what, topic, why) => {
  expect(findings(deviceWith(topic))).toEqual([expect.stringContaining(why)]);
});
