/**
 * The fields of the device's messages on `devices/<thing>/errors` and `devices/<thing>/responses`
 * (docs/contracts.md), as the topic rules select them. The rules list them explicitly instead of
 * `SELECT *`, so nothing a device puts in its payload can shadow what the rule derives from the topic
 * (`thingName`) or adds itself (`receivedAt`).
 */

/** What the device sends on its errors topic (besides `thingName`, which the rule takes from the topic). */
export const DEVICE_ERROR_FIELDS = ["id", "command", "code", "message", "at"] as const;

/** What the device sends on its responses topic (besides `thingName`). */
export const DEVICE_RESPONSE_FIELDS = ["id", "command", "status", "result", "completedAt"] as const;

/** Fields the rules derive themselves; a payload can never set them. */
export const RULE_DERIVED_FIELDS = { thingName: "topic(2)", receivedAt: "timestamp()" } as const;

/** `SELECT <fields>, topic(2) AS thingName, timestamp() AS receivedAt FROM '<filter>'`. */
export function deviceMessageSql(fields: readonly string[], topicFilter: string): string {
  for (const field of fields) {
    if (!/^[A-Za-z][A-Za-z0-9]*$/.test(field)) throw new Error(`device message field "${field}" must be a plain identifier`);
    if (field in RULE_DERIVED_FIELDS) throw new Error(`device message field "${field}" is derived by the rule; the payload may not set it`);
  }
  const derived = Object.entries(RULE_DERIVED_FIELDS).map(([name, expr]) => `${expr} AS ${name}`);
  return `SELECT ${[...fields, ...derived].join(", ")} FROM '${topicFilter}'`;
}
