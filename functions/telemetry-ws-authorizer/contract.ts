/** The live-updates `$connect` authorizer's contract, shared by the handler and the `telemetry` stack. */
import { COMMON_ENV, DEFAULT_ENVIRONMENT, defineContract } from "../shared/contract";

export const TELEMETRY_WS_AUTHORIZER = defineContract({
  handler: "telemetry-ws-authorizer",
  // Verifies a JWT (its JWKS fetched once per container).
  timeoutSeconds: 5,
  memoryMiB: 256,
  env: {
    environment: COMMON_ENV.environment,
    /** The dashboard Cognito user pool whose access tokens are accepted. */
    userPoolId: "USER_POOL_ID",
    userPoolClientId: "USER_POOL_CLIENT_ID",
  },
  defaults: { environment: DEFAULT_ENVIRONMENT },
  ranges: {},
});
