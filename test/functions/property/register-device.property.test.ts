/**
 * Property: whatever reaches the registration API (any method, path, path parameter, query and body,
 * including hostile text and prototype-polluting keys), it answers with a JSON status, never
 * registers a reserved serial, and a 4xx/5xx answer carries a reason and writes nothing.
 */
import fc from "fast-check";
import type { APIGatewayProxyEvent } from "aws-lambda";
import type { RunningDynalite } from "../../support/dynalite";
import { ALLOWED_DEVICE_TYPES, apiEvent, putItem, registeredDevice, useHandler } from "../helpers";
import { FC_PARAMS, hostileJson, hostileRecord, hostileText, prototypeIntact, snapshot } from "./support";

type RegisterModule = typeof import("../../../functions/register-device");
const SEEDED = ["PBTAPI0001", "PBTAPI0002"];
const RESERVED = /^(shf-test-|provision-)/i;

const h = useHandler<RegisterModule>(require.resolve("../../../functions/register-device"), (db: RunningDynalite) => ({
  REGISTRY_TABLE_NAME: db.registryTableName,
  ALLOWED_DEVICE_TYPES,
  NAME_PREFIX: "shf-test",
  ENVIRONMENT: "test",
  AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
}));

beforeAll(async () => {
  await putItem(h.db.client, h.db.registryTableName, registeredDevice(SEEDED[0]));
  await putItem(h.db.client, h.db.registryTableName, registeredDevice(SEEDED[1], { status: "PROVISIONED" }));
});

const serial = fc.oneof(fc.constantFrom(...SEEDED, "PBTNEW0001", "shf-test-controller", "PROVISION-9", "pbt new 1"), hostileText);
const registration = hostileRecord({
  serialNumber: serial,
  deviceType: fc.oneof(fc.constantFrom("thermostat", "smart-plug", "toaster"), hostileText),
  metadata: hostileJson,
  provisioningTokenSha256: fc.oneof(fc.stringMatching(/^[0-9a-f]{64}$/), hostileText),
  newSerialNumber: serial,
});
const body = fc.oneof(
  registration.map((r) => JSON.stringify(r)),
  hostileText,
  fc.constant(null),
  hostileJson.map((v) => JSON.stringify(v) ?? "null"),
);
/** Where the request goes: as API Gateway routes it (resource + decoded path parameter), or a raw path as the twin sends it. */
const target = fc.oneof(
  fc.constant({ resource: "/devices", path: "/devices", pathParameters: null }),
  serial.map((s) => ({ resource: "/devices/{serialNumber}", path: `/devices/${encodeURIComponent(s)}`, pathParameters: { serialNumber: s } })),
  fc
    .tuple(serial, fc.constantFrom("reprovision", "replace"))
    .map(([s, op]) => ({ resource: `/devices/{serialNumber}/${op}`, path: `/devices/${encodeURIComponent(s)}/${op}`, pathParameters: { serialNumber: s } })),
  fc
    .oneof(fc.constantFrom("/devices/", "/", "/devices/%E0%A4%A", "/devices/x/__proto__", "/devices/x/revoke"), hostileText)
    .map((path) => ({ resource: "", path, pathParameters: null })),
);
const request = fc
  .record({
    method: fc.oneof(fc.constantFrom("GET", "POST", "DELETE", "PUT", "post", ""), hostileText),
    target,
    body,
    query: fc.option(
      fc.dictionary(fc.oneof(fc.constantFrom("status", "deviceType", "limit", "nextToken", "__proto__"), fc.string({ maxLength: 8 })), hostileText, {
        maxKeys: 3,
      }),
      { nil: null },
    ),
  })
  .map(({ method, target, body, query }): APIGatewayProxyEvent => ({
    ...apiEvent(method, "/", body ?? undefined),
    ...target,
    queryStringParameters: query as APIGatewayProxyEvent["queryStringParameters"],
  }));

test("answers every request with JSON, registers no reserved serial, and writes nothing when it refuses", async () => {
  await fc.assert(
    fc.asyncProperty(request, async (event) => {
      const before = await snapshot(h.db.client, [h.db.registryTableName]);
      const result = await h.mod.handler(event, {
        awsRequestId: "pbt",
        invokedFunctionArn: "arn:aws:lambda:eu-west-1:123456789012:function:register-device",
      } as never);
      expect(Number.isInteger(result.statusCode)).toBe(true);
      const answer = JSON.parse(result.body) as Record<string, unknown>;
      if (result.statusCode >= 400) {
        expect(typeof answer.message).toBe("string");
        expect(await snapshot(h.db.client, [h.db.registryTableName])).toBe(before);
      }
      expect(prototypeIntact()).toBe(true);
    }),
    FC_PARAMS,
  );
  const rows = JSON.parse(await snapshot(h.db.client, [h.db.registryTableName]))[h.db.registryTableName] as string[];
  expect(rows.map((r) => JSON.parse(r).serialNumber as string).filter((s) => RESERVED.test(s))).toEqual([]);
});
