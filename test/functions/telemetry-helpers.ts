/** Helpers for the telemetry function tests (not a test file itself): tables, tokens, isolated loading. */
import { createSign, generateKeyPairSync, type KeyObject } from "node:crypto";
import { CreateTableCommand, type DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { Jwk, Jwks } from "aws-jwt-verify/jwk";

export const TELEMETRY_TABLES = {
  telemetry: "telemetry",
  rollup: "telemetry-rollup",
  connections: "telemetry-connections",
  connectionsIndex: "by-connection",
} as const;

/** A pay-per-request table with string keys (and an optional keys-only index), as CreateTable input. */
function keyedTable(name: string, keys: { hash: string; range?: string; rangeType?: "S" | "N" }, index?: { name: string; hash: string }) {
  const attributes = new Map<string, "S" | "N">([[keys.hash, "S"]]);
  if (keys.range) attributes.set(keys.range, keys.rangeType ?? "S");
  if (index) attributes.set(index.hash, "S");
  return new CreateTableCommand({
    TableName: name,
    BillingMode: "PAY_PER_REQUEST",
    AttributeDefinitions: [...attributes].map(([AttributeName, AttributeType]) => ({ AttributeName, AttributeType })),
    KeySchema: [{ AttributeName: keys.hash, KeyType: "HASH" }, ...(keys.range ? [{ AttributeName: keys.range, KeyType: "RANGE" as const }] : [])],
    GlobalSecondaryIndexes: index
      ? [{ IndexName: index.name, KeySchema: [{ AttributeName: index.hash, KeyType: "HASH" }], Projection: { ProjectionType: "KEYS_ONLY" } }]
      : undefined,
  });
}

/** The telemetry stack's tables (keys as in stacks/telemetry-stack.ts), on any DynamoDB endpoint. */
export async function createTelemetryTables(client: DynamoDBClient): Promise<void> {
  await client.send(keyedTable(TELEMETRY_TABLES.telemetry, { hash: "thingName", range: "ts", rangeType: "N" }));
  await client.send(keyedTable(TELEMETRY_TABLES.rollup, { hash: "thingName", range: "hour", rangeType: "N" }));
  await client.send(
    keyedTable(TELEMETRY_TABLES.connections, { hash: "buildingId", range: "connectionId" }, { name: TELEMETRY_TABLES.connectionsIndex, hash: "connectionId" }),
  );
}

export { loadWith } from "./helpers";

// ---------------------------------------------------------------------------------------------
// Cognito-like tokens, signed here with node:crypto (no network, no Cognito).
// ---------------------------------------------------------------------------------------------

export const TEST_REGION = "eu-west-1";
export const TEST_USER_POOL_ID = "eu-west-1_TestPool1";
export const TEST_CLIENT_ID = "3n4b5urk1ft4fl3mg5e62d9ado";
export const TEST_ISSUER = `https://cognito-idp.${TEST_REGION}.amazonaws.com/${TEST_USER_POOL_ID}`;

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  /** The public key as a JWK (what Cognito publishes in its JWKS). */
  jwk: Jwk;
}

export function signingKey(kid: string): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = { ...(publicKey.export({ format: "jwk" }) as Record<string, string>), kid, alg: "RS256", use: "sig" } as Jwk;
  return { kid, privateKey, jwk };
}

export function jwksOf(...keys: SigningKey[]): Jwks {
  return { keys: keys.map((k) => k.jwk) };
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** A JWT signed RS256 with `key` (the header's `kid` can be overridden to sign with one key and name another). */
export function signJwt(key: SigningKey, payload: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const signingInput = `${b64url({ alg: "RS256", typ: "JWT", kid: key.kid, ...header })}.${b64url(payload)}`;
  const signature = createSign("RSA-SHA256").update(signingInput).sign(key.privateKey).toString("base64url");
  return `${signingInput}.${signature}`;
}

/** Claims of a Cognito access token of the test pool and client, valid for an hour. */
export function accessTokenClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return {
    sub: "5b2c8e34-1111-2222-3333-444455556666",
    "cognito:groups": ["building-hq", "building-lab"],
    iss: TEST_ISSUER,
    client_id: TEST_CLIENT_ID,
    origin_jti: "0f6b6f53-aaaa-bbbb-cccc-ddddeeeeffff",
    event_id: "c2d1d4a1-aaaa-bbbb-cccc-ddddeeeeffff",
    token_use: "access",
    scope: "aws.cognito.signin.user.admin",
    auth_time: now - 60,
    iat: now - 60,
    exp: now + 3600,
    jti: "9a1c3f0e-aaaa-bbbb-cccc-ddddeeeeffff",
    username: "5b2c8e34-1111-2222-3333-444455556666",
    ...overrides,
  };
}
