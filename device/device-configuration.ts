/**
 * What the fleet-provisioning template tells a Pi in RegisterThing's `deviceConfiguration` (kept in
 * `thing.json`), shared with the `fleet` stack that writes the template so the key has one spelling.
 * https://docs.aws.amazon.com/iot/latest/developerguide/provision-template.html#fleet-provision-template
 */

/** `deviceConfiguration` key naming the topic rule that stores telemetry (the telemetry stack's store rule). */
export const TELEMETRY_RULE_KEY = "TelemetryRuleName";

/** IoT rule names: https://docs.aws.amazon.com/iot/latest/apireference/API_TopicRule.html (`^[a-zA-Z0-9_]+$`, 1-128). */
const RULE_NAME_RE = /^[A-Za-z0-9_]{1,128}$/;

/**
 * Where this thing publishes telemetry: through AWS IoT Basic Ingest, `$aws/rules/<rule>/devices/<thing>/telemetry`
 * (no messaging charge, reaches exactly that rule, which still sees `devices/<thing>/telemetry`), when the
 * template named a valid rule; otherwise the plain `devices/<thing>/telemetry` (Pis provisioned before the
 * template carried the rule name), which the device policy still allows and the store rule still stores.
 * https://docs.aws.amazon.com/iot/latest/developerguide/iot-basic-ingest.html
 */
export function telemetryTopic(thingName: string, deviceConfiguration: Readonly<Record<string, string>> | undefined): string {
  const plain = `devices/${thingName}/telemetry`;
  const rule = deviceConfiguration?.[TELEMETRY_RULE_KEY];
  return rule !== undefined && RULE_NAME_RE.test(rule) ? `$aws/rules/${rule}/${plain}` : plain;
}
