import { SimpleJwksCache } from "aws-jwt-verify/jwk";
import { authorizeConnection, createVerifier, MAX_TOKEN_LENGTH } from "../../functions/telemetry-ws-authorizer/authorize";
import { captureStdout } from "./helpers";
import { TEST_CLIENT_ID, TEST_USER_POOL_ID, accessTokenClaims, jwksOf, loadWith, signJwt, signingKey, type SigningKey } from "./telemetry-helpers";

type AuthorizerModule = typeof import("../../functions/telemetry-ws-authorizer");
const AUTHORIZER = "../../functions/telemetry-ws-authorizer";
const METHOD_ARN = "arn:aws:execute-api:eu-west-1:111111111111:abcdef1234/live/$connect";

let key: SigningKey;
let otherKey: SigningKey;
let mod: AuthorizerModule;
let logs: ReturnType<typeof captureStdout>;

const connectEvent = (token: string | undefined) => ({
  type: "REQUEST",
  methodArn: METHOD_ARN,
  queryStringParameters: token === undefined ? {} : { token },
});

beforeAll(() => {
  key = signingKey("key-1");
  // Same kid, different key pair: a token signed by someone else claiming to be Cognito.
  otherKey = { ...signingKey("key-1") };
  mod = loadWith<AuthorizerModule>(AUTHORIZER, { USER_POOL_ID: TEST_USER_POOL_ID, USER_POOL_CLIENT_ID: TEST_CLIENT_ID, ENVIRONMENT: "test" }).mod;
  // The verifier would fetch the pool's JWKS once; give it ours instead (no network in tests).
  mod.jwtVerifier!.cacheJwks(jwksOf(key));
});
beforeEach(() => {
  logs = captureStdout();
});
afterEach(() => logs.restore());

describe("telemetry WebSocket authorizer", () => {
  test("allows a valid access token of a user in building groups, passing the buildings on", async () => {
    // GIVEN an access token of a user in building-hq and building-lab (and an unrelated group)
    const token = signJwt(key, accessTokenClaims({ "cognito:groups": ["building-lab", "operators", "building-hq"] }));
    // WHEN they connect
    const result = await mod.handler(connectEvent(token));
    // THEN the connection is allowed on exactly this route, with their buildings in the context
    expect(result.policyDocument.Statement).toEqual([{ Action: "execute-api:Invoke", Effect: "Allow", Resource: METHOD_ARN }]);
    expect(result.principalId).toBe("5b2c8e34-1111-2222-3333-444455556666");
    expect(result.context).toEqual({ sub: "5b2c8e34-1111-2222-3333-444455556666", buildingIds: "hq,lab" });
  });

  test("logs the decision without the token", async () => {
    // GIVEN a valid token
    const token = signJwt(key, accessTokenClaims());
    // WHEN it is checked
    await mod.handler(connectEvent(token));
    // THEN the log line says allowed and never contains the token
    expect(logs.lines().map((l) => l.reason)).toContain("allowed");
    expect(JSON.stringify(logs.lines())).not.toContain(token.split(".")[2]);
  });

  const now = Math.floor(Date.now() / 1000);
  test.each([
    ["the token has expired", "Token expired", () => signJwt(key, accessTokenClaims({ iat: now - 7200, exp: now - 3600 }))],
    ["the token is signed by another key under the pool's key id", "Invalid signature", () => signJwt(otherKey, accessTokenClaims())],
    [
      "the token's payload was altered after signing",
      "Invalid signature",
      () => {
        const [header, , signature] = signJwt(key, accessTokenClaims()).split(".");
        const forged = Buffer.from(JSON.stringify(accessTokenClaims({ "cognito:groups": ["building-everything"] }))).toString("base64url");
        return `${header}.${forged}.${signature}`;
      },
    ],
    [
      "the token was issued by another user pool",
      "issuer not configured",
      () => signJwt(key, accessTokenClaims({ iss: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_OtherPool" })),
    ],
    ["the token was issued to another app client", "Client ID not allowed", () => signJwt(key, accessTokenClaims({ client_id: "someotherclientid000000000" }))],
    [
      "an ID token is used instead of an access token",
      "Token use not allowed: id",
      () => signJwt(key, accessTokenClaims({ token_use: "id", aud: TEST_CLIENT_ID, client_id: undefined })),
    ],
    ["the token is not yet valid", "can't be used before", () => signJwt(key, accessTokenClaims({ nbf: now + 3600 }))],
    [
      "the token is unsigned (alg none)",
      "invalid-token",
      () => {
        const [, payload] = signJwt(key, accessTokenClaims()).split(".");
        return `${Buffer.from(JSON.stringify({ alg: "none", typ: "JWT", kid: "key-1" })).toString("base64url")}.${payload}.`;
      },
    ],
    ["the token is not a JWT", "3 parts", () => "not-a-jwt"],
    ["the token is empty", "no-token", () => "   "],
    ["the token is absurdly long", "token-too-long", () => "a".repeat(MAX_TOKEN_LENGTH + 1)],
    ["the user is in no building group", "no-buildings", () => signJwt(key, accessTokenClaims({ "cognito:groups": ["operators"] }))],
    ["the user is in no group at all", "no-buildings", () => signJwt(key, accessTokenClaims({ "cognito:groups": undefined }))],
    [
      "the building group names a malformed building id",
      "no-buildings",
      () => signJwt(key, accessTokenClaims({ "cognito:groups": ["building-../x", "building-"] })),
    ],
  ])("fails when %s: the connection is denied (403) (%s)", async (_name, why, makeToken) => {
    // GIVEN a token that must not open a connection
    const token = makeToken();
    // WHEN it is presented on $connect
    const result = await mod.handler(connectEvent(token));
    // THEN the answer is a Deny for this route with no context
    expect(result.policyDocument.Statement).toEqual([{ Action: "execute-api:Invoke", Effect: "Deny", Resource: METHOD_ARN }]);
    expect(result.context).toBeUndefined();
    const decision = logs.lines().find((l) => l.message === "connection denied");
    expect(`${decision?.reason} ${decision?.detail ?? ""}`).toContain(why);
  });

  test("fails when no token is given: denied", async () => {
    const result = await mod.handler(connectEvent(undefined));
    expect(result.policyDocument.Statement[0].Effect).toBe("Deny");
  });

  test("fails when the token names a key the pool does not publish: denied, without waiting for the network", async () => {
    // GIVEN a verifier whose JWKS cannot be fetched (as in a test: no network)
    const jwksCache = new SimpleJwksCache({ fetcher: { fetch: async () => Promise.reject(new Error("no network in tests")) } });
    const verifier = createVerifier(TEST_USER_POOL_ID, TEST_CLIENT_ID, jwksCache);
    verifier.cacheJwks(jwksOf(key));
    const token = signJwt(signingKey("unknown-kid"), accessTokenClaims());
    // WHEN the token is checked
    const decision = await authorizeConnection((t) => verifier.verify(t), connectEvent(token));
    // THEN it is denied as an invalid token
    expect(decision.reason).toBe("invalid-token");
    expect(decision.result.policyDocument.Statement[0].Effect).toBe("Deny");
  });

  test("fails when the authorizer is misconfigured: the invocation fails (500, alarmed)", async () => {
    // GIVEN the authorizer loaded without its user pool id
    const broken = loadWith<AuthorizerModule>(AUTHORIZER, { USER_POOL_ID: undefined, USER_POOL_CLIENT_ID: TEST_CLIENT_ID }).mod;
    // WHEN a connection is attempted THEN it throws, naming the variable
    await expect(broken.handler(connectEvent(signJwt(key, accessTokenClaims())))).rejects.toThrow(/USER_POOL_ID/);
    process.env.USER_POOL_ID = TEST_USER_POOL_ID;
  });
});
