/** The live-updates connection handler's contract, shared by the handler and the `telemetry` stack. */
import { COMMON_ENV, DEFAULT_ENVIRONMENT, defineContract } from "../shared/contract";

export const TELEMETRY_CONNECTIONS = defineContract({
  handler: "telemetry-connections",
  timeoutSeconds: 10,
  memoryMiB: 256,
  env: {
    environment: COMMON_ENV.environment,
    connectionsTableName: COMMON_ENV.connectionsTableName,
    /** Index of the connections table by connection id (used on `$disconnect`). */
    indexName: "CONNECTIONS_INDEX_NAME",
    /** API Gateway closes WebSocket connections after 2 hours; a row without `$disconnect` lives a little longer. */
    ttlSeconds: "CONNECTION_TTL_SECONDS",
  },
  defaults: { environment: DEFAULT_ENVIRONMENT, ttlSeconds: 3 * 3600 },
  ranges: { ttlSeconds: { min: 60, max: 86400 } },
});
