/** The alert handler's contract, shared by the handler, the `iot` stack and the local twin. */
import { COMMON_ENV, DEFAULT_ENVIRONMENT, defineContract } from "../shared/contract";

/** Namespace, dimension and metric names of the alert metrics (EMF in the functions' logs), for dashboards and alarms. */
export { ALERT_METRICS } from "../shared/alert-metrics";

export const ALERT_HANDLER = defineContract({
  handler: "alert-handler",
  // Two SNS and DynamoDB calls with their retries; an asynchronous invocation, so no caller waits.
  timeoutSeconds: 15,
  memoryMiB: 256,
  env: {
    environment: COMMON_ENV.environment,
    alertTopicArn: COMMON_ENV.alertTopicArn,
    alertStateTableName: COMMON_ENV.alertStateTableName,
    /** One alert per device and error code within this window. */
    cooldownSeconds: "ALERT_COOLDOWN_SECONDS",
    /** Alerts one device may raise per budget window whatever the code; then one "muted" notice. */
    budgetPerDevice: "ALERT_BUDGET_PER_DEVICE",
    budgetWindowSeconds: "ALERT_BUDGET_WINDOW_SECONDS",
  },
  defaults: { environment: DEFAULT_ENVIRONMENT, cooldownSeconds: 300, budgetPerDevice: 20, budgetWindowSeconds: 3600 },
  ranges: {
    cooldownSeconds: { min: 1, max: 7 * 86400 },
    budgetPerDevice: { min: 1, max: 10_000 },
    budgetWindowSeconds: { min: 60, max: 7 * 86400 },
  },
});
