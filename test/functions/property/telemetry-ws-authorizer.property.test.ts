/**
 * Property: whatever a client puts in the WebSocket $connect request (no token, garbage, forged or
 * unsigned JWTs with hostile claims, polluting keys), the authorizer answers with a Deny policy for
 * that connection and never throws. Only tokens signed by the pool's key pass (unit tests cover those).
 */
import fc from "fast-check";
import { captureStdout } from "../helpers";
import { TEST_CLIENT_ID, TEST_USER_POOL_ID, accessTokenClaims, jwksOf, loadWith, signJwt, signingKey } from "../telemetry-helpers";
import { FC_PARAMS, hostileJson, hostileRecord, hostileText, prototypeIntact } from "./support";

type AuthorizerModule = typeof import("../../../functions/telemetry-ws-authorizer");
const METHOD_ARN = "arn:aws:execute-api:eu-west-1:111111111111:abcdef1234/live/$connect";

let mod: AuthorizerModule;
let logs: ReturnType<typeof captureStdout>;
const attackerKey = signingKey("key-1"); // same key id as the pool's, different key

beforeAll(() => {
  mod = loadWith<AuthorizerModule>(require.resolve("../../../functions/telemetry-ws-authorizer"), {
    USER_POOL_ID: TEST_USER_POOL_ID,
    USER_POOL_CLIENT_ID: TEST_CLIENT_ID,
    ENVIRONMENT: "test",
  }).mod;
  mod.jwtVerifier!.cacheJwks(jwksOf(signingKey("key-1")));
});
beforeEach(() => {
  logs = captureStdout();
});
afterEach(() => logs.restore());

const b64url = (value: unknown) => Buffer.from(typeof value === "string" ? value : (JSON.stringify(value) ?? "null")).toString("base64url");
const claims = hostileRecord({
  sub: hostileText,
  "cognito:groups": fc.oneof(fc.constant(["building-hq"]), hostileJson),
  token_use: fc.constantFrom("access", "id"),
  client_id: fc.constant(TEST_CLIENT_ID),
  exp: fc.integer(),
});
const token = fc.oneof(
  hostileText,
  // unsigned ("alg": "none") and garbage-signed JWTs with hostile claims
  fc
    .tuple(fc.constantFrom({ alg: "none", typ: "JWT" }, { alg: "RS256", kid: "key-1" }, { alg: "HS256", kid: "key-1" }), claims, hostileText)
    .map(([h, c, sig]) => `${b64url(h)}.${b64url(c)}.${b64url(sig)}`),
  // well-formed tokens signed by an attacker's key under the pool's key id
  claims.map((c) => signJwt(attackerKey, accessTokenClaims(c))),
);
const connectEvent = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      type: fc.constant("REQUEST"),
      methodArn: fc.constant(METHOD_ARN),
      queryStringParameters: fc.oneof(
        token.map((t) => ({ token: t })),
        fc.constant({}),
        fc.constant(null),
        hostileRecord({ token: token, buildingId: hostileText }),
      ),
    }),
  },
  { weight: 1, arbitrary: hostileJson },
);

test("denies every request without a token signed by the pool's key, and never throws", async () => {
  await fc.assert(
    fc.asyncProperty(connectEvent, async (event) => {
      const result = await mod.handler(event as never);
      expect(result.policyDocument.Statement.map((s) => s.Effect)).toEqual(["Deny"]);
      expect(result.context?.buildingIds).toBeUndefined();
      expect(prototypeIntact()).toBe(true);
    }),
    FC_PARAMS,
  );
});
