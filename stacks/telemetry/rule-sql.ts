/**
 * The SQL of the telemetry topic rule, in one place (the stack, the twin and the tests read it from
 * here). Explicit fields, never `*`: a device cannot add attributes or override `thingName` (always the
 * topic's, which the device policy ties to the device's own identity).
 */

/** The MQTT topic filter of device telemetry (docs/contracts.md). */
export const TELEMETRY_TOPIC_FILTER = "devices/+/telemetry";

/**
 * The storage rule's SQL: the one rule on telemetry, writing the hot table only; the table's stream
 * feeds the consumer (warm store, thresholds, live updates). `ts` is the arrival time stamped by AWS
 * IoT (a Raspberry Pi has no real-time clock, so its own clock may be wrong before NTP syncs); the
 * device's `ts` is kept as `deviceTs`.
 */
export function storeSql(hotRetentionSeconds: number): string {
  return `SELECT topic(2) AS thingName, timestamp() AS ts, ts AS deviceTs, metrics, floor(timestamp() / 1000) + ${hotRetentionSeconds} AS expiresAt FROM '${TELEMETRY_TOPIC_FILTER}'`;
}
