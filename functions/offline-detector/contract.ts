/** The offline detector's contract, shared by the handler, the `iot` stack and the local twin. */
import { COMMON_ENV, DEFAULT_ENVIRONMENT, defineContract } from "../shared/contract";

export const OFFLINE_DETECTOR = defineContract({
  handler: "offline-detector",
  // The sweep scans the whole registry.
  timeoutSeconds: 60,
  memoryMiB: 256,
  env: {
    environment: COMMON_ENV.environment,
    registryTableName: COMMON_ENV.registryTableName,
    alertTopicArn: COMMON_ENV.alertTopicArn,
    /** A device disconnected longer than this is alerted offline by the sweep. */
    graceSeconds: "OFFLINE_GRACE_SECONDS",
  },
  defaults: { environment: DEFAULT_ENVIRONMENT, graceSeconds: 600 },
  ranges: { graceSeconds: { min: 1, max: 30 * 86400 } },
});
