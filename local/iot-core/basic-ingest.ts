/**
 * AWS IoT Basic Ingest on the twin's endpoint, as the Developer Guide describes it
 * (https://docs.aws.amazon.com/iot/latest/developerguide/iot-basic-ingest.html):
 *
 * - a PUBLISH to `$aws/rules/<rule>/<topic>` is authorized (`iot:Publish`) against the FULL topic, then
 *   handed to rule `<rule>` only, never to the message broker: no subscriber ever receives it;
 * - the rule's SQL sees `<topic>`: "the initial prefix of a Basic Ingest topic ($aws/rules/rule_name)
 *   isn't available to the topic(Decimal) function", so `topic(2)` of `$aws/rules/r/devices/SN-1/telemetry` is `SN-1`;
 * - "devices and rules can't subscribe to Basic Ingest reserved topics": a SUBSCRIBE to a filter under
 *   `$aws/rules/` is refused whatever the policy says (AWS does not document the SUBACK code; the twin
 *   answers the MQTT 5 "Not authorized" 0x87, 3.1.1's 0x80);
 * - the FROM clause "is optional for rules that are only activated using the Basic Ingest feature"
 *   (https://docs.aws.amazon.com/iot/latest/developerguide/iot-sql-reference.html): the rule is chosen by
 *   name, so the twin does not match `<topic>` against FROM; WHERE still applies;
 * - a rule that does not exist or is disabled: not documented. The twin acknowledges the PUBLISH (it was
 *   authorized) and drops the message, reporting it as `dropped` so tests and the log can see it.
 */

/** Every Basic Ingest topic (and filter) starts with this. */
export const BASIC_INGEST_PREFIX = "$aws/rules/";

/** One message published through Basic Ingest, as the endpoint hands it to the rules engine. */
export interface BasicIngestMessage {
  /** The rule named by the topic's third level. */
  readonly ruleName: string;
  /** The topic the rule's SQL sees: the published topic without `$aws/rules/<rule>/`. */
  readonly topic: string;
  readonly payload: Buffer;
  /** The publishing connection's client id (`clientid()` and the error action's `clientId`). */
  readonly clientId: string;
}

/** Whether a topic or filter is in the Basic Ingest namespace (nobody may subscribe there). */
export function isBasicIngestTopic(topicOrFilter: string): boolean {
  return topicOrFilter.startsWith(BASIC_INGEST_PREFIX);
}

/** `$aws/rules/<rule>/<topic>` -> `{ruleName, topic}`; undefined outside the namespace or without a rule name. */
export function parseBasicIngestTopic(topic: string): { readonly ruleName: string; readonly topic: string } | undefined {
  if (!isBasicIngestTopic(topic)) return undefined;
  const rest = topic.slice(BASIC_INGEST_PREFIX.length);
  const slash = rest.indexOf("/");
  const ruleName = slash < 0 ? rest : rest.slice(0, slash);
  if (ruleName === "") return undefined;
  return { ruleName, topic: slash < 0 ? "" : rest.slice(slash + 1) };
}
