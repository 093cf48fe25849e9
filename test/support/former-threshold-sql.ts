/**
 * The SQL the per-threshold topic rules ran before issue 15 moved thresholds into the hot table's stream
 * consumer. Kept as the reference the consumer is checked against (test/functions/telemetry-stream-fidelity.test.ts):
 * run by the twin's IoT SQL engine, it says what AWS IoT would have sent the alert handler.
 */
import type { TelemetryThreshold } from "../../config/types";
import { TELEMETRY_TOPIC_FILTER } from "../../stacks/telemetry/rule-sql";

const OPERATOR_WORDS: Record<TelemetryThreshold["operator"], string> = { ">": "above", ">=": "at or above", "<": "below", "<=": "at or below" };

export function thresholdSql(threshold: TelemetryThreshold): string {
  const field = `metrics.${threshold.metric}`;
  const value = String(threshold.value);
  const message = `concat('${threshold.metric} is ', cast(${field} AS String), ', ${OPERATOR_WORDS[threshold.operator]} the threshold of ${value}')`;
  return (
    `SELECT 'TELEMETRY_THRESHOLD.${threshold.metric}' AS code, ${message} AS message, topic(2) AS thingName, timestamp() AS receivedAt ` +
    `FROM '${TELEMETRY_TOPIC_FILTER}' WHERE ${field} ${threshold.operator} ${value}`
  );
}
