import { createHash } from "node:crypto";
import { reserveSerial } from "../../functions/provisioning-hook/hook";
import type { RunningDynalite } from "../support/dynalite";
import {
  ALLOWED_DEVICE_TYPES,
  closedPortEndpoint,
  documentClient,
  getItem,
  loadIsolated,
  putItem,
  registeredDevice,
  startBlackHole,
  uniqueSerial,
  useHandler,
} from "./helpers";

type HookModule = typeof import("../../functions/provisioning-hook");
const HOOK = "../../functions/provisioning-hook";
const DENY = { allowProvisioning: false };
const NAME_PREFIX = "shf-test";
const CERT_A = "a".repeat(64);
const CERT_B = "b".repeat(64);
const TOKEN = "pi-token-3Jq9xV0s2mLk8TzR4bWc1YhN6uFe5Gd7Aa0Pp";

const baseEnv = (db: RunningDynalite = h.db): Record<string, string | undefined> => ({
  REGISTRY_TABLE_NAME: db.registryTableName,
  ALLOWED_DEVICE_TYPES,
  PROVISIONING_LEASE_SECONDS: "600",
  NAME_PREFIX: NAME_PREFIX,
  ROTATION_TEMPLATE_NAME: "shf-test-pi-rotation",
  ENVIRONMENT: "test",
  AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
});

function hookEvent(serialNumber: string, overrides: Record<string, unknown> = {}, parameters: Record<string, unknown> = {}) {
  return {
    claimCertificateId: "c1a1mc3r7",
    certificateId: "ab12cd34".repeat(8),
    certificatePem: "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----",
    templateArn: "arn:aws:iot:eu-west-1:123456789012:provisioningtemplate/fleet",
    clientId: "claim-client-1",
    parameters: { SerialNumber: serialNumber, DeviceType: "thermostat", ...parameters },
    ...overrides,
  };
}

async function registry(serialNumber: string) {
  return getItem(h.db.client, h.db.registryTableName, { serialNumber });
}

const h = useHandler<HookModule>(HOOK, (db) => baseEnv(db));
const hook: HookModule["handler"] = (...args) => h.mod.handler(...args);

describe("provisioning hook: allow", () => {
  test("allows a registered serial and overrides DeviceType with the registered value", async () => {
    // GIVEN a REGISTERED serial
    const serial = uniqueSerial();
    await putItem(h.db.client, h.db.registryTableName, registeredDevice(serial));
    // WHEN the device asks to be provisioned
    const response = await hook(hookEvent(serial));
    // THEN it is allowed and only DeviceType is overridden
    expect(response).toEqual({ allowProvisioning: true, parameterOverrides: { DeviceType: "thermostat" } });
  });

  test("moves the row to PROVISIONING with the client, certificate and start time", async () => {
    // GIVEN a REGISTERED serial
    const serial = uniqueSerial();
    await putItem(h.db.client, h.db.registryTableName, registeredDevice(serial));
    const before = Date.now();
    // WHEN the hook allows it
    await hook(hookEvent(serial, { clientId: "claim-abc", certificateId: "f".repeat(64) }));
    // THEN the registry records who holds the lease and with which certificate
    const row = await registry(serial);
    expect(row).toMatchObject({ status: "PROVISIONING", provisioningClientId: "claim-abc", certificateId: "f".repeat(64) });
    expect(row?.provisioningStartedAt).toBeGreaterThanOrEqual(before);
  });

  test("normalises DeviceType case and spaces", async () => {
    // GIVEN a REGISTERED smart-plug
    const serial = uniqueSerial();
    await putItem(h.db.client, h.db.registryTableName, registeredDevice(serial, { deviceType: "smart-plug" }));
    // WHEN the device sends its type in another case with spaces
    const response = await hook(hookEvent(serial, {}, { DeviceType: "  Smart-Plug " }));
    // THEN the override carries the canonical form
    expect(response.parameterOverrides).toEqual({ DeviceType: "smart-plug" });
  });

  test("GIVEN a lease held by certificate A WHEN A retries (from another client id) THEN it is allowed as a retry", async () => {
    // GIVEN a serial the hook already allowed for certificate A
    const serial = uniqueSerial();
    await putItem(h.db.client, h.db.registryTableName, registeredDevice(serial));
    await hook(hookEvent(serial, { clientId: "client-a", certificateId: CERT_A }));
    // WHEN the same certificate asks again (a lost RegisterThing answer), on a new connection
    const response = await hook(hookEvent(serial, { clientId: "client-a2", certificateId: CERT_A }));
    // THEN it is allowed again, logged as a retry, and certificate A still holds the lease
    expect(response.allowProvisioning).toBe(true);
    expect(h.logs.lines()[1]).toMatchObject({ allowProvisioning: true, reason: "retry-within-lease" });
    expect((await registry(serial))?.certificateId).toBe(CERT_A);
  });

  test("GIVEN an expired lease of certificate A WHEN certificate B asks THEN B is allowed and holds the lease", async () => {
    // GIVEN a serial reserved by certificate A eleven minutes ago (lease 10 minutes)
    const serial = uniqueSerial();
    await putItem(
      h.db.client,
      h.db.registryTableName,
      registeredDevice(serial, {
        status: "PROVISIONING",
        provisioningClientId: "client-a",
        certificateId: CERT_A,
        provisioningStartedAt: Date.now() - 660_000,
      }),
    );
    // WHEN certificate B asks
    const response = await hook(hookEvent(serial, { clientId: "client-b", certificateId: CERT_B }));
    // THEN B gets it and now holds the lease
    expect(response.allowProvisioning).toBe(true);
    expect(await registry(serial)).toMatchObject({ certificateId: CERT_B, provisioningClientId: "client-b" });
  });

  test("GIVEN a denial THEN its line is at warn level, so the denial alarm counts it even with LOG_LEVEL=warn", async () => {
    await hook(hookEvent(uniqueSerial()));
    expect(h.logs.lines()).toEqual([expect.objectContaining({ level: "warn", allowProvisioning: false, reason: "unknown-serial" })]);
  });

  test("logs one structured line with the decision and its reason", async () => {
    // GIVEN a REGISTERED serial
    const serial = uniqueSerial();
    await putItem(h.db.client, h.db.registryTableName, registeredDevice(serial));
    // WHEN the hook allows it
    await hook(hookEvent(serial));
    // THEN exactly one JSON line says so
    const lines = h.logs.lines();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ service: "provisioning-hook", allowProvisioning: true, reason: "reserved", serialNumber: serial });
  });
});

describe("provisioning hook: registry denies", () => {
  test.each([
    ["the serial is unknown", null, "unknown-serial"],
    ["the serial is revoked", { status: "REVOKED", revokedAt: new Date().toISOString() }, "revoked"],
    ["the serial is already provisioned", { status: "PROVISIONED", provisionedAt: Date.now() }, "already-provisioned"],
    ["the device type differs from the registered one", { deviceType: "sensor-hub" }, "device-type-mismatch"],
    [
      "another certificate holds the lease",
      { status: "PROVISIONING", provisioningClientId: "someone-else", certificateId: CERT_B, provisioningStartedAt: Date.now() },
      "lease-held-by-other-certificate",
    ],
  ])("denies when %s", async (_name, row, reason) => {
    // GIVEN the registry state
    const serial = uniqueSerial();
    if (row) await putItem(h.db.client, h.db.registryTableName, registeredDevice(serial, row));
    const before = await registry(serial);
    // WHEN a device asks
    const response = await hook(hookEvent(serial));
    // THEN it is denied with the reason logged, and the row is untouched (or still absent)
    expect(response).toEqual(DENY);
    expect(h.logs.lines()[0]).toMatchObject({ allowProvisioning: false, reason });
    expect(await registry(serial)).toEqual(before);
  });
});

describe("provisioning hook: a claim holder cannot hijack a serial", () => {
  test("fails when a second certificate asks inside the lease with the SAME client id", async () => {
    // GIVEN certificate A holds the lease of a serial, connected as provision-<serial>
    const serial = uniqueSerial();
    await putItem(h.db.client, h.db.registryTableName, registeredDevice(serial));
    await hook(hookEvent(serial, { clientId: `provision-${serial}`, certificateId: CERT_A }));
    const leased = await registry(serial);
    // WHEN another claim holder, with its own certificate, uses the same (predictable) client id
    const response = await hook(hookEvent(serial, { clientId: `provision-${serial}`, certificateId: CERT_B }));
    // THEN it is denied and the lease (holder and start time) is unchanged
    expect(response).toEqual(DENY);
    expect(h.logs.lines()[1]).toMatchObject({ allowProvisioning: false, reason: "lease-held-by-other-certificate" });
    expect(await registry(serial)).toEqual(leased);
  });

  test.each([
    ["starts with provision-", "provision-ABC123"],
    ["starts with PROVISION- in another case", "PROVISION-abc123"],
    ["is the controller's thing name", `${NAME_PREFIX}-controller`],
    ["starts with the name prefix in another case", `${NAME_PREFIX.toUpperCase()}-X1234`],
  ])("fails when the serial is reserved: it %s", async (_name, serial) => {
    // GIVEN a row for a reserved serial (written before the API refused such serials)
    await putItem(h.db.client, h.db.registryTableName, registeredDevice(serial));
    // WHEN a claim holder asks for it
    const response = await hook(hookEvent(serial));
    // THEN it is denied as reserved, and the row is untouched
    expect(response).toEqual(DENY);
    expect(h.logs.lines()[0]).toMatchObject({ allowProvisioning: false, reason: "reserved-serial" });
    expect((await registry(serial))?.status).toBe("REGISTERED");
  });
});

describe("provisioning hook: per-device provisioning token", () => {
  const withToken = (serial: string) => registeredDevice(serial, { provisioningTokenSha256: createHash("sha256").update(TOKEN).digest("hex") });

  test("GIVEN a row with a token hash WHEN the device sends the matching token THEN it is allowed", async () => {
    const serial = uniqueSerial();
    await putItem(h.db.client, h.db.registryTableName, withToken(serial));
    const response = await hook(hookEvent(serial, {}, { ProvisioningToken: TOKEN }));
    expect(response).toEqual({ allowProvisioning: true, parameterOverrides: { DeviceType: "thermostat" } });
    expect((await registry(serial))?.status).toBe("PROVISIONING");
  });

  test.each([
    ["the token is missing", {}, "provisioning-token-missing"],
    ["the token is wrong", { ProvisioningToken: `${TOKEN}x` }, "provisioning-token-mismatch"],
    ["the token is the stored hash itself", { ProvisioningToken: createHash("sha256").update(TOKEN).digest("hex") }, "provisioning-token-mismatch"],
  ])("fails when the row has a token hash and %s", async (_name, parameters, reason) => {
    // GIVEN a REGISTERED row with a token hash
    const serial = uniqueSerial();
    await putItem(h.db.client, h.db.registryTableName, withToken(serial));
    const before = await registry(serial);
    // WHEN a claim holder who knows the serial asks without the right token
    const response = await hook(hookEvent(serial, {}, parameters));
    // THEN it is denied and nothing is written
    expect(response).toEqual(DENY);
    expect(h.logs.lines()[0]).toMatchObject({ allowProvisioning: false, reason });
    expect(await registry(serial)).toEqual(before);
  });

  test("GIVEN a row without a token hash WHEN the device sends a token THEN it is allowed as before", async () => {
    const serial = uniqueSerial();
    await putItem(h.db.client, h.db.registryTableName, registeredDevice(serial));
    const response = await hook(hookEvent(serial, {}, { ProvisioningToken: TOKEN }));
    expect(response.allowProvisioning).toBe(true);
  });

  test("GIVEN any decision THEN the token never appears in the log", async () => {
    const serial = uniqueSerial();
    await putItem(h.db.client, h.db.registryTableName, withToken(serial));
    await hook(hookEvent(serial, {}, { ProvisioningToken: `${TOKEN}-wrong` }));
    await hook(hookEvent(serial, {}, { ProvisioningToken: TOKEN }));
    await hook(hookEvent(serial, {}, { ProvisioningToken: 42 }));
    expect(h.logs.lines()).toHaveLength(3);
    expect(JSON.stringify(h.logs.lines())).not.toContain(TOKEN.slice(0, 20));
  });

  test("allows exactly one of 50 racers that all hold the right token", async () => {
    // GIVEN a row with a token hash (the token leaked together with the claim certificate)
    const serial = uniqueSerial("RACE");
    await putItem(h.db.client, h.db.registryTableName, withToken(serial));
    // WHEN 50 certificates race with it
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        hook(hookEvent(serial, { clientId: `provision-${serial}`, certificateId: i.toString(16).padStart(64, "0") }, { ProvisioningToken: TOKEN })),
      ),
    );
    // THEN exactly one is allowed
    expect(responses.filter((r) => r.allowProvisioning)).toHaveLength(1);
  });
});

describe("provisioning hook: bad input never throws", () => {
  const huge = "A".repeat(1_000_000);
  const valid = () => hookEvent("GARBAGE0001");
  test.each<[string, unknown, string]>([
    ["the event is null", null, "invalid-event"],
    ["the event is undefined", undefined, "invalid-event"],
    ["the event is a number", 42, "invalid-event"],
    ["the event is a string", '{"parameters":{}}', "invalid-event"],
    ["the event is an array", [valid()], "invalid-event"],
    ["the event is an empty object", {}, "invalid-event"],
    ["parameters are missing", { ...valid(), parameters: undefined }, "invalid-event"],
    ["parameters are null", { ...valid(), parameters: null }, "invalid-event"],
    ["parameters are an array", { ...valid(), parameters: ["GARBAGE0001"] }, "invalid-event"],
    ["clientId is missing", { ...valid(), clientId: undefined }, "invalid-event"],
    ["clientId is empty", { ...valid(), clientId: "" }, "invalid-event"],
    ["certificateId is missing", { ...valid(), certificateId: undefined }, "invalid-event"],
    ["certificateId has shell characters", { ...valid(), certificateId: "abc;rm -rf /" }, "invalid-event"],
    ["SerialNumber is missing", hookEvent("x", {}, { SerialNumber: undefined }), "invalid-serial-number"],
    ["SerialNumber is a number", hookEvent("x", {}, { SerialNumber: 12345678 }), "invalid-serial-number"],
    ["SerialNumber is too short", hookEvent("ABC"), "invalid-serial-number"],
    ["SerialNumber is 65 characters", hookEvent("A".repeat(65)), "invalid-serial-number"],
    ["SerialNumber starts with a dash", hookEvent("-ABC1234"), "invalid-serial-number"],
    ["SerialNumber has a slash", hookEvent("ABC/1234"), "invalid-serial-number"],
    ["SerialNumber is an MQTT wildcard", hookEvent("ABC+1234"), "invalid-serial-number"],
    ["SerialNumber is a megabyte long", hookEvent(huge), "invalid-serial-number"],
    ["DeviceType is missing", hookEvent("GARBAGE0001", {}, { DeviceType: undefined }), "invalid-device-type"],
    ["DeviceType is not allowed", hookEvent("GARBAGE0001", {}, { DeviceType: "toaster" }), "invalid-device-type"],
    ["DeviceType is an object", hookEvent("GARBAGE0001", {}, { DeviceType: { name: "thermostat" } }), "invalid-device-type"],
    ["DeviceType is a megabyte long", hookEvent("GARBAGE0001", {}, { DeviceType: huge }), "invalid-device-type"],
    ["ProvisioningToken is a number", hookEvent("GARBAGE0001", {}, { ProvisioningToken: 42 }), "invalid-provisioning-token"],
    ["ProvisioningToken is empty", hookEvent("GARBAGE0001", {}, { ProvisioningToken: "" }), "invalid-provisioning-token"],
    ["ProvisioningToken is a megabyte long", hookEvent("GARBAGE0001", {}, { ProvisioningToken: huge }), "invalid-provisioning-token"],
  ])("denies when %s", async (_name, event, reason) => {
    // GIVEN a registered serial the garbage might point at
    await putItem(h.db.client, h.db.registryTableName, registeredDevice("GARBAGE0001"));
    // WHEN the hook gets the malformed event
    const response = await hook(event);
    // THEN it answers deny (no throw), logs the reason, and writes nothing
    expect(response).toEqual(DENY);
    expect(h.logs.lines()[0]).toMatchObject({ allowProvisioning: false, reason });
    expect((await registry("GARBAGE0001"))?.status).toBe("REGISTERED");
  });

  test("denies when the event's getters throw", async () => {
    // GIVEN an event whose property access throws
    const hostile = Object.defineProperty({}, "parameters", {
      enumerable: true,
      get: () => {
        throw new Error("boom");
      },
    });
    // WHEN the hook gets it
    const response = await hook(hostile);
    // THEN it still answers deny
    expect(response).toEqual(DENY);
  });
});

/**
 * Races are judged on the conditional write itself (reserveSerial, the hook's business logic) with a
 * client without the handler's 1 s request timeout: on a loaded machine dynalite serialises 50 writes
 * slowly enough that the handler's deadline, not the race, would decide (a timed-out winner is a deny,
 * and its device's retry with the same certificate is then allowed as a retry within the lease).
 */
async function race(serial: string, racers: readonly { clientId: string; certificateId: string }[]) {
  const deps = { ddb: documentClient(h.db.client), tableName: h.db.registryTableName, leaseSeconds: 600, now: () => Date.now() };
  return Promise.all(racers.map((r) => reserveSerial(deps, { serialNumber: serial, deviceType: "thermostat", ...r })));
}

describe("provisioning hook: races", () => {
  test("allows exactly one of 50 devices racing for one serial", async () => {
    // GIVEN one REGISTERED serial
    const serial = uniqueSerial("RACE");
    await putItem(h.db.client, h.db.registryTableName, registeredDevice(serial));
    // WHEN 50 different clients ask at the same time
    const decisions = await race(
      serial,
      Array.from({ length: 50 }, (_, i) => ({ clientId: `racer-${i}`, certificateId: i.toString(16).padStart(64, "0") })),
    );
    // THEN exactly one is allowed, every other one is told the lease is held, and the row names the winner
    const winners = decisions.flatMap((d, i) => (d.allow ? [i] : []));
    expect(winners).toHaveLength(1);
    expect(new Set(decisions.filter((d) => !d.allow).map((d) => d.reason))).toEqual(new Set(["lease-held-by-other-certificate"]));
    const row = await registry(serial);
    expect(row?.provisioningClientId).toBe(`racer-${winners[0]}`);
    expect(row?.certificateId).toBe(winners[0].toString(16).padStart(64, "0"));
  });

  test("allows exactly one of 50 certificates racing under the same provision-<serial> client id", async () => {
    // GIVEN one REGISTERED serial
    const serial = uniqueSerial("RACE");
    await putItem(h.db.client, h.db.registryTableName, registeredDevice(serial));
    // WHEN 50 claim holders with their own certificates all connect as provision-<serial>
    const decisions = await race(
      serial,
      Array.from({ length: 50 }, (_, i) => ({ clientId: `provision-${serial}`, certificateId: (i + 1).toString(16).padStart(64, "0") })),
    );
    // THEN exactly one is allowed and its certificate holds the lease
    const winners = decisions.flatMap((d, i) => (d.allow ? [i] : []));
    expect(winners).toHaveLength(1);
    expect((await registry(serial))?.certificateId).toBe((winners[0] + 1).toString(16).padStart(64, "0"));
  });
});

describe("provisioning hook: infrastructure failures", () => {
  test("denies when DynamoDB refuses connections", async () => {
    // GIVEN a hook whose DynamoDB endpoint is a closed port
    const endpoint = await closedPortEndpoint();
    const broken = loadIsolated<HookModule>(HOOK, { ...baseEnv(), AWS_ENDPOINT_URL_DYNAMODB: endpoint }).mod.handler;
    // WHEN a device asks
    const started = Date.now();
    const response = await broken(hookEvent("UNREACH0001"));
    // THEN it is denied well inside AWS's 5 s limit, with the error logged
    expect(response).toEqual(DENY);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(h.logs.lines()[0]).toMatchObject({ level: "error", reason: "dynamodb-error" });
  });

  test("denies when DynamoDB accepts the connection but never answers", async () => {
    // GIVEN a hook whose DynamoDB endpoint hangs
    const blackHole = await startBlackHole();
    const hanging = loadIsolated<HookModule>(HOOK, { ...baseEnv(), AWS_ENDPOINT_URL_DYNAMODB: blackHole.endpoint }).mod.handler;
    try {
      // WHEN a device asks
      const started = Date.now();
      const response = await hanging(hookEvent("HANGING0001"));
      // THEN the timeouts or the deadline guard deny it inside AWS's 5 s limit
      expect(response).toEqual(DENY);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(["dynamodb-error", "deadline-exceeded"]).toContain(h.logs.lines()[0].reason);
    } finally {
      await blackHole.stop();
    }
  });

  test("denies with deadline-exceeded when the Lambda has little time left", async () => {
    // GIVEN a hanging DynamoDB and an invocation with 800 ms left
    const blackHole = await startBlackHole();
    const hanging = loadIsolated<HookModule>(HOOK, { ...baseEnv(), AWS_ENDPOINT_URL_DYNAMODB: blackHole.endpoint }).mod.handler;
    try {
      // WHEN a device asks
      const response = await hanging(hookEvent("HANGING0002"), { getRemainingTimeInMillis: () => 800 });
      // THEN the guard answers deny before the Lambda would time out
      expect(response).toEqual(DENY);
      expect(h.logs.lines()[0]).toMatchObject({ reason: "deadline-exceeded" });
    } finally {
      await blackHole.stop();
    }
  });

  test.each([
    ["REGISTRY_TABLE_NAME is missing", { REGISTRY_TABLE_NAME: undefined }],
    ["ALLOWED_DEVICE_TYPES is empty", { ALLOWED_DEVICE_TYPES: " , " }],
    ["PROVISIONING_LEASE_SECONDS is not a number", { PROVISIONING_LEASE_SECONDS: "ten minutes" }],
    ["NAME_PREFIX is missing", { NAME_PREFIX: undefined }],
  ])("denies every request when %s", async (_name, env) => {
    // GIVEN a hook loaded with a bad configuration (loading must not throw)
    const misconfigured = loadIsolated<HookModule>(HOOK, { ...baseEnv(), ...env }).mod.handler;
    await putItem(h.db.client, h.db.registryTableName, registeredDevice("CONFIG0001"));
    // WHEN a valid device asks
    const response = await misconfigured(hookEvent("CONFIG0001"));
    // THEN it is denied with a config error logged
    expect(response).toEqual(DENY);
    expect(h.logs.lines()[0]).toMatchObject({ level: "error", reason: "config-invalid" });
  });
});
