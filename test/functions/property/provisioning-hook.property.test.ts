/**
 * Property: whatever a claim holder sends (missing fields, wrong types, huge strings, Unicode,
 * injection-like text, prototype-polluting keys), the pre-provisioning hook answers, never allows a
 * serial that is not registered and unclaimed, and writes nothing when it denies.
 */
import { createHash } from "node:crypto";
import fc from "fast-check";
import type { RunningDynalite } from "../../support/dynalite";
import { ALLOWED_DEVICE_TYPES, putItem, registeredDevice, useHandler } from "../helpers";
import { FC_PARAMS, hostileJson, hostileRecord, hostileText, prototypeIntact, snapshot } from "./support";

type HookModule = typeof import("../../../functions/provisioning-hook");

const REGISTERED = "PBTREG0001";
const REVOKED = "PBTREV0001";
const TOKENED = "PBTTOK0001";
const PROVISIONED = "PBTPRV0001";

const h = useHandler<HookModule>(require.resolve("../../../functions/provisioning-hook"), (db: RunningDynalite) => ({
  REGISTRY_TABLE_NAME: db.registryTableName,
  ALLOWED_DEVICE_TYPES,
  PROVISIONING_LEASE_SECONDS: "600",
  ROTATION_TEMPLATE_NAME: "shf-test-pi-rotation",
  NAME_PREFIX: "shf-test",
  ENVIRONMENT: "test",
  AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
}));

beforeAll(async () => {
  await putItem(h.db.client, h.db.registryTableName, registeredDevice(REGISTERED));
  await putItem(h.db.client, h.db.registryTableName, registeredDevice(REVOKED, { status: "REVOKED" }));
  await putItem(h.db.client, h.db.registryTableName, registeredDevice(PROVISIONED, { status: "PROVISIONED" }));
  await putItem(
    h.db.client,
    h.db.registryTableName,
    registeredDevice(TOKENED, { provisioningTokenSha256: createHash("sha256").update("the-real-token").digest("hex") }),
  );
});

const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/);
const parameters = hostileRecord({
  SerialNumber: fc.oneof(fc.constantFrom(REGISTERED, REVOKED, TOKENED, PROVISIONED, "PBTUNKNOWN1", ` ${REGISTERED}`, REGISTERED.toLowerCase()), hostileText),
  DeviceType: fc.oneof(fc.constantFrom("thermostat", "smart-plug", "sensor-hub", "THERMOSTAT"), hostileText),
  ProvisioningToken: fc.oneof(fc.constant("a-guessed-token"), hostileText),
});
/** Well-formed requests for the seeded serials, so the allow path is exercised too. */
const wellFormed = fc.record({
  claimCertificateId: hex64,
  certificateId: hex64,
  certificatePem: fc.constant("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"),
  templateArn: fc.constant("arn:aws:iot:eu-west-1:123456789012:provisioningtemplate/fleet"),
  clientId: fc.constant("provision-pi-1"),
  parameters: fc.record({ SerialNumber: fc.constantFrom(REGISTERED, REVOKED, TOKENED, PROVISIONED, "PBTUNKNOWN1"), DeviceType: fc.constant("thermostat") }),
});
const hookEvent = fc.oneof(
  { weight: 2, arbitrary: wellFormed },
  {
    weight: 5,
    arbitrary: hostileRecord({
      claimCertificateId: hex64,
      certificateId: hex64,
      certificatePem: hostileText,
      templateArn: hostileText,
      clientId: fc.oneof(fc.constant("provision-pi-1"), hostileText),
      parameters,
    }),
  },
  { weight: 1, arbitrary: hostileJson },
);

test("never throws, allows only the registered unclaimed serial, and writes nothing on a deny", async () => {
  let allowed = 0;
  await fc.assert(
    fc.asyncProperty(hookEvent, async (event) => {
      const before = await snapshot(h.db.client, [h.db.registryTableName]);
      const response = await h.mod.handler(event as never);
      expect(typeof response.allowProvisioning).toBe("boolean");
      if (response.allowProvisioning) {
        expect((event as { parameters: { SerialNumber: unknown } }).parameters.SerialNumber).toBe(REGISTERED);
        allowed += 1;
      } else {
        expect(response).toEqual({ allowProvisioning: false });
        expect(await snapshot(h.db.client, [h.db.registryTableName])).toBe(before);
      }
      expect(prototypeIntact()).toBe(true);
    }),
    FC_PARAMS,
  );
  // The lease then belongs to that certificate: the registered serial is allowed at most once per certificate.
  expect(allowed).toBeGreaterThan(0);
});
