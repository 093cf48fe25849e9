/** The alert handler's contract, shared by the handler, the `iot` stack and the local twin. */
import { COMMON_ENV, DEFAULT_ENVIRONMENT, defineContract } from "../shared/contract";

export const ALERT_HANDLER = defineContract({
  handler: "alert-handler",
  // Two SNS and DynamoDB calls with their retries; an asynchronous invocation, so no caller waits.
  timeoutSeconds: 15,
  memoryMiB: 256,
  env: {
    environment: COMMON_ENV.environment,
    alertTopicArn: COMMON_ENV.alertTopicArn,
    alertStateTableName: "ALERT_STATE_TABLE_NAME",
    /** One alert per device and error code within this window. */
    cooldownSeconds: "ALERT_COOLDOWN_SECONDS",
  },
  defaults: { environment: DEFAULT_ENVIRONMENT, cooldownSeconds: 300 },
  ranges: { cooldownSeconds: { min: 1, max: 7 * 86400 } },
});
