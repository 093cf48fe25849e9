/**
 * Business logic of the WebSocket `$connect` authorizer: verify the dashboard user's Cognito access
 * token (signature against the user pool's JWKS, issuer, expiry, `token_use`, `client_id`) and allow
 * the connection only for a user in at least one building. The building ids travel to the
 * `$connect` integration in the authorizer context.
 */
import { CognitoJwtVerifier } from "aws-jwt-verify";
import type { JwksCache } from "aws-jwt-verify/jwk";
import { buildingsFromClaims } from "../shared/buildings";

/** Verifies a JWT and returns its claims, or rejects. */
export type VerifyToken = (token: string) => Promise<Readonly<Record<string, unknown>>>;

export interface AuthorizerEvent {
  type?: string;
  methodArn?: string;
  queryStringParameters?: Readonly<Record<string, string | undefined>> | null;
}

export interface AuthorizerResult {
  principalId: string;
  policyDocument: {
    Version: "2012-10-17";
    Statement: { Action: "execute-api:Invoke"; Effect: "Allow" | "Deny"; Resource: string }[];
  };
  /** Only on Allow: what the `$connect` integration reads (`requestContext.authorizer`). */
  context?: { sub: string; buildingIds: string };
}

export type Decision = { result: AuthorizerResult; reason: "allowed" | "no-token" | "token-too-long" | "invalid-token" | "no-buildings"; detail?: string };

/** Cognito access tokens are a few KB; anything far larger is not one. */
export const MAX_TOKEN_LENGTH = 8192;

export function createVerifier(userPoolId: string, clientId: string, jwksCache?: JwksCache) {
  return CognitoJwtVerifier.create({ userPoolId, clientId, tokenUse: "access" }, jwksCache ? { jwksCache } : undefined);
}

function policy(principalId: string, effect: "Allow" | "Deny", resource: string): AuthorizerResult {
  return {
    principalId,
    policyDocument: { Version: "2012-10-17", Statement: [{ Action: "execute-api:Invoke", Effect: effect, Resource: resource }] },
  };
}

/** Never throws: anything that is not a valid token of a user with a building is a Deny (403). */
export async function authorizeConnection(verify: VerifyToken, event: AuthorizerEvent): Promise<Decision> {
  const resource = typeof event?.methodArn === "string" && event.methodArn.startsWith("arn:") ? event.methodArn : "*";
  const deny = (reason: Decision["reason"], detail?: string): Decision => ({ result: policy("anonymous", "Deny", resource), reason, detail });
  // Any shape may arrive (a direct invoke, a test): only a string is a token.
  const raw: unknown = event?.queryStringParameters?.token;
  const token = typeof raw === "string" ? raw.trim() : undefined;
  if (!token) return deny("no-token");
  if (token.length > MAX_TOKEN_LENGTH) return deny("token-too-long");

  let claims: Readonly<Record<string, unknown>>;
  try {
    claims = await verify(token);
  } catch (error) {
    return deny("invalid-token", error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 300) : "verification failed");
  }
  const sub = typeof claims.sub === "string" ? claims.sub : "unknown";
  const buildings = buildingsFromClaims(claims);
  if (buildings.length === 0) return { ...deny("no-buildings"), result: policy(sub, "Deny", resource) };
  return { result: { ...policy(sub, "Allow", resource), context: { sub, buildingIds: buildings.join(",") } }, reason: "allowed" };
}
