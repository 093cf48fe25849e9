/** The dashboard read API function's contract, shared by the handler and the `telemetry` stack. */
import { COMMON_ENV, DEFAULT_ENVIRONMENT, defineContract } from "../shared/contract";

export const TELEMETRY_API = defineContract({
  handler: "telemetry-api",
  timeoutSeconds: 10,
  memoryMiB: 256,
  env: {
    environment: COMMON_ENV.environment,
    registryTableName: COMMON_ENV.registryTableName,
    telemetryTableName: COMMON_ENV.telemetryTableName,
    rollupTableName: COMMON_ENV.rollupTableName,
  },
  defaults: { environment: DEFAULT_ENVIRONMENT },
  ranges: {},
});
