/**
 * REQUEST authorizer of the live-updates WebSocket API's `$connect` route. The dashboard connects to
 * `wss://.../<stage>?token=<Cognito access token>` (browsers cannot set headers on a WebSocket);
 * the token is verified here against the dashboard user pool. Invalid tokens and users without a
 * building get a Deny (403); a broken configuration fails the invocation (500, alarmed).
 */
import type { Context } from "aws-lambda";
import { loadConfig, optionalString, requiredString } from "../shared/config";
import { createLogger } from "../shared/log";
import { TELEMETRY_WS_AUTHORIZER as C } from "./contract";
import { authorizeConnection, createVerifier, type AuthorizerEvent, type AuthorizerResult } from "./authorize";

const config = loadConfig(() => {
  const userPoolId = requiredString(process.env, C.env.userPoolId);
  const clientId = requiredString(process.env, C.env.userPoolClientId);
  return { verifier: createVerifier(userPoolId, clientId) };
});

const logger = createLogger({ service: "telemetry-ws-authorizer", environment: optionalString(process.env, C.env.environment, C.defaults.environment) });

/**
 * The verifier of this module (its JWKS is fetched once and cached across invocations). Exported so
 * tests can load a JWKS with `cacheJwks()` instead of fetching it.
 */
export const jwtVerifier = config.ok ? config.value.verifier : undefined;

export async function handler(event: AuthorizerEvent, context?: Partial<Context>): Promise<AuthorizerResult> {
  const log = logger.child({ requestId: context?.awsRequestId });
  if (!config.ok) {
    log.error("configuration invalid", { error: config.error });
    throw new Error(`telemetry-ws-authorizer misconfigured: ${config.error}`);
  }
  const verifier = config.value.verifier;
  const decision = await authorizeConnection((token) => verifier.verify(token), event ?? {});
  const fields = { reason: decision.reason, principalId: decision.result.principalId, detail: decision.detail };
  if (decision.reason === "allowed") log.info("connection allowed", { ...fields, buildingIds: decision.result.context?.buildingIds });
  else log.warn("connection denied", fields);
  return decision.result;
}
