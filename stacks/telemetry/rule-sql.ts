/**
 * The SQL of every telemetry topic rule, in one place (the stack, the twin and the tests read it from
 * here). Explicit fields, never `*`: a device cannot add attributes or override `thingName` (always the
 * topic's, which the device policy ties to the device's own identity).
 */
import type { TelemetryThreshold } from "../../config/types";

/** The MQTT topic filter of device telemetry (docs/contracts.md). */
export const TELEMETRY_TOPIC_FILTER = "devices/+/telemetry";

const OPERATOR_WORDS: Record<TelemetryThreshold["operator"], string> = { ">": "above", ">=": "at or above", "<": "below", "<=": "at or below" };

/**
 * The storage rule's SQL (hot table and warm store). `ts` is the arrival time stamped by AWS IoT (a
 * Raspberry Pi has no real-time clock, so its own clock may be wrong before NTP syncs); the device's
 * `ts` is kept as `deviceTs`.
 */
export function storeSql(hotRetentionSeconds: number): string {
  return `SELECT topic(2) AS thingName, timestamp() AS ts, ts AS deviceTs, metrics, floor(timestamp() / 1000) + ${hotRetentionSeconds} AS expiresAt FROM '${TELEMETRY_TOPIC_FILTER}'`;
}

/** The live-updates rule's SQL (the broadcaster). */
export function liveSql(): string {
  return `SELECT topic(2) AS thingName, timestamp() AS ts, ts AS deviceTs, metrics FROM '${TELEMETRY_TOPIC_FILTER}'`;
}

/**
 * One threshold's SQL: a device-error payload for the alert handler when the metric is past the
 * threshold. IoT SQL comparisons convert numeric strings and are Undefined (the rule does not fire)
 * for anything that is not a number, so a missing or non-numeric metric never alerts.
 */
export function thresholdSql(threshold: TelemetryThreshold): string {
  const field = `metrics.${threshold.metric}`;
  const value = String(threshold.value);
  const message = `concat('${threshold.metric} is ', cast(${field} AS String), ', ${OPERATOR_WORDS[threshold.operator]} the threshold of ${value}')`;
  return (
    `SELECT 'TELEMETRY_THRESHOLD.${threshold.metric}' AS code, ${message} AS message, topic(2) AS thingName, timestamp() AS receivedAt ` +
    `FROM '${TELEMETRY_TOPIC_FILTER}' WHERE ${field} ${threshold.operator} ${value}`
  );
}
