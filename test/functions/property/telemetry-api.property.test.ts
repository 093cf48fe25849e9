/**
 * Property: whatever reaches the dashboard read API behind the JWT authorizer (any route key, path
 * and query parameters, any groups claim), it answers with a JSON status, writes nothing (it is a
 * read API), and shows a device's telemetry only to a member of that device's building.
 */
import fc from "fast-check";
import type { APIGatewayProxyEventV2WithJWTAuthorizer } from "aws-lambda";
import { startDynalite, type RunningDynalite } from "../../support/dynalite";
import { captureStdout, putItem, registeredDevice } from "../helpers";
import { TELEMETRY_TABLES, createTelemetryTables, loadWith } from "../telemetry-helpers";
import { FC_PARAMS, hostileText, prototypeIntact, snapshot } from "./support";

type ApiModule = typeof import("../../../functions/telemetry-api");
const THING = "PBTTEL0001";
const BUILDING = "pbthq";

let db: RunningDynalite;
let handler: ApiModule["handler"];
let logs: ReturnType<typeof captureStdout>;

beforeAll(async () => {
  db = await startDynalite();
  await createTelemetryTables(db.client);
  handler = loadWith<ApiModule>(require.resolve("../../../functions/telemetry-api"), {
    TELEMETRY_TABLE_NAME: TELEMETRY_TABLES.telemetry,
    TELEMETRY_ROLLUP_TABLE_NAME: TELEMETRY_TABLES.rollup,
    REGISTRY_TABLE_NAME: db.registryTableName,
    ENVIRONMENT: "test",
    AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
  }).mod.handler;
  await putItem(db.client, db.registryTableName, registeredDevice(THING, { status: "PROVISIONED", metadata: { buildingId: BUILDING } }));
  await putItem(db.client, TELEMETRY_TABLES.telemetry, {
    thingName: THING,
    ts: Date.now() - 60_000,
    deviceTs: "2026-11-26T00:00:00Z",
    metrics: { co2_ppm: 900 },
    expiresAt: 1,
  });
});
afterAll(async () => db.stop());
beforeEach(() => {
  logs = captureStdout();
});
afterEach(() => logs.restore());

const ROUTES = ["GET /buildings", "GET /buildings/{buildingId}/devices", "GET /devices/{thingName}/telemetry"];
const request = fc
  .record({
    routeKey: fc.oneof(fc.constantFrom(...ROUTES), hostileText),
    groups: fc.option(
      fc.oneof(
        fc.constantFrom(`[building-${BUILDING}]`, `building-${BUILDING}`, "[building-other operators]", "[]", `[building-${BUILDING}x]`, "building-__proto__"),
        hostileText,
      ),
      { nil: undefined },
    ),
    sub: fc.option(hostileText, { nil: undefined }),
    path: fc.option(
      fc.dictionary(fc.constantFrom("buildingId", "thingName", "__proto__"), fc.oneof(fc.constantFrom(THING, BUILDING, "__proto__"), hostileText), {
        maxKeys: 2,
      }),
      { nil: undefined },
    ),
    query: fc.option(
      fc.dictionary(
        fc.constantFrom("from", "to", "limit", "nextToken", "__proto__"),
        fc.oneof(fc.constantFrom("0", "-1", "1e309", "2026-11-26T00:00:00Z", "99999999999999999999"), hostileText),
        { maxKeys: 3 },
      ),
      { nil: undefined },
    ),
  })
  .map(({ routeKey, groups, sub, path, query }) => {
    const claims: Record<string, string> = { token_use: "access" };
    if (sub !== undefined) claims.sub = sub;
    if (groups !== undefined) claims["cognito:groups"] = groups;
    return {
      version: "2.0",
      routeKey,
      rawPath: "/",
      rawQueryString: "",
      headers: {},
      pathParameters: path,
      queryStringParameters: query,
      isBase64Encoded: false,
      requestContext: { routeKey, authorizer: { jwt: { claims, scopes: null } } },
    } as unknown as APIGatewayProxyEventV2WithJWTAuthorizer;
  });

test("answers with JSON, never writes, and shows telemetry only to the device's building", async () => {
  const tables = [db.registryTableName, TELEMETRY_TABLES.telemetry, TELEMETRY_TABLES.rollup];
  const before = await snapshot(db.client, tables);
  await fc.assert(
    fc.asyncProperty(request, async (event) => {
      const result = await handler(event);
      const status = result.statusCode as number;
      expect(Number.isInteger(status)).toBe(true);
      const body = JSON.parse(result.body as string) as Record<string, unknown>;
      if (status >= 400) expect(typeof body.message).toBe("string");
      const groups = String(event.requestContext.authorizer.jwt.claims["cognito:groups"] ?? "");
      if (status === 200 && event.routeKey === "GET /devices/{thingName}/telemetry" && event.pathParameters?.thingName === THING) {
        expect(groups.split(/[\s,[\]]+/)).toContain(`building-${BUILDING}`);
      }
      expect(prototypeIntact()).toBe(true);
    }),
    FC_PARAMS,
  );
  expect(await snapshot(db.client, tables)).toBe(before);
});
