/** The live-updates broadcaster's contract, shared by the handler and the `telemetry` stack. */
import { COMMON_ENV, DEFAULT_ENVIRONMENT, defineContract } from "../shared/contract";

export const TELEMETRY_BROADCAST = defineContract({
  handler: "telemetry-broadcast",
  // One post per following connection.
  timeoutSeconds: 30,
  memoryMiB: 256,
  env: {
    environment: COMMON_ENV.environment,
    registryTableName: COMMON_ENV.registryTableName,
    /** `https://<api>.execute-api.<region>.amazonaws.com/<stage>`: where connections are posted to. */
    callbackUrl: "WEBSOCKET_CALLBACK_URL",
    connectionsTableName: COMMON_ENV.connectionsTableName,
    latestTableName: COMMON_ENV.latestTableName,
    rollupTableName: COMMON_ENV.rollupTableName,
    /** How long a latest-reading row lives without a newer reading, and a rollup item after its hour (the hot-store retention). */
    latestTtlSeconds: "LATEST_TTL_SECONDS",
  },
  defaults: { environment: DEFAULT_ENVIRONMENT, latestTtlSeconds: 90 * 86400 },
  ranges: { latestTtlSeconds: { min: 3600, max: 3650 * 86400 } },
});
