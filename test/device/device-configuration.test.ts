/** The telemetry topic a Pi derives from RegisterThing's deviceConfiguration (device/device-configuration.ts). */
import { TELEMETRY_RULE_KEY, telemetryTopic } from "../../device/device-configuration";

test("GIVEN the template named the store rule THEN telemetry goes to its Basic Ingest topic", () => {
  expect(telemetryTopic("SN-1", { [TELEMETRY_RULE_KEY]: "shf_dev_telemetry_store" })).toBe("$aws/rules/shf_dev_telemetry_store/devices/SN-1/telemetry");
});

test("GIVEN a Pi provisioned before the template named a rule THEN it keeps the plain topic (still allowed and stored)", () => {
  expect(telemetryTopic("SN-1", {})).toBe("devices/SN-1/telemetry");
  expect(telemetryTopic("SN-1", undefined)).toBe("devices/SN-1/telemetry");
});

test.each([["a/b"], ["#"], ["+"], ["*"], [""], ["x".repeat(129)], ["rule name"]])(
  "GIVEN a rule name that is not an IoT rule name (%s) THEN the plain topic is used, never a wider or foreign topic",
  (rule) => {
    expect(telemetryTopic("SN-1", { [TELEMETRY_RULE_KEY]: rule })).toBe("devices/SN-1/telemetry");
  },
);
