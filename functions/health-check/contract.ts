/** The daily health check's contract, shared by the handler, the `iot` stack and the local twin. */
import { COMMON_ENV, DEFAULT_ENVIRONMENT, defineContract } from "../shared/contract";

export const HEALTH_CHECK = defineContract({
  handler: "health-check",
  // Scans the whole registry once a day.
  timeoutSeconds: 120,
  memoryMiB: 256,
  env: {
    environment: COMMON_ENV.environment,
    registryTableName: COMMON_ENV.registryTableName,
    alertTopicArn: COMMON_ENV.alertTopicArn,
    /** Devices offline longer than this are listed in the summary. */
    offlineThresholdSeconds: "HEALTH_OFFLINE_THRESHOLD_SECONDS",
  },
  defaults: { environment: DEFAULT_ENVIRONMENT, offlineThresholdSeconds: 3600 },
  ranges: { offlineThresholdSeconds: { min: 1, max: 90 * 86400 } },
});
