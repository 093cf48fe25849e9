/**
 * Fleet provisioning in the identity plane as AWS runs it: certificates stay PENDING_ACTIVATION until
 * RegisterThing ran the synthesized template to the end; ownership tokens, the pre-provisioning hook
 * and the template each refuse without writing anything.
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import { createKeyAndCsr } from "../../../device/provision";
import { ProvisioningCaller } from "../../../local/iot-core/contracts";
import { PreProvisioningHook, PreProvisioningHookEvent } from "../../../local/iot-core/identity-plane";
import { pemLabel } from "../../support/pem";
import { PlaneFixture, allowAll, names, provisionDevice, startPlane } from "./identity-fixture";

const TEMPLATE = names.provisioningTemplate;

describe("provisioning in the identity plane", () => {
  let f: PlaneFixture;
  let claim: ProvisioningCaller;
  let hook: PreProvisioningHook;
  let clock: number;
  const events: PreProvisioningHookEvent[] = [];

  beforeAll(async () => {
    clock = 1_000_000;
    f = await startPlane({
      preProvisioningHook: (e) => {
        events.push(e);
        return hook(e);
      },
      hookTimeoutMs: 200,
      now: () => clock,
    });
    claim = { clientId: "provision-SN-A", certificateId: f.claimCertificateId };
  });

  beforeEach(() => {
    hook = allowAll;
    events.length = 0;
  });

  afterAll(() => f?.close());

  const newCertificate = async (commonName = "SN-X", caller = claim) => {
    const issued = await f.plane.createCertificateFromCsr(caller, (await createKeyAndCsr(commonName)).csrPem);
    if (!issued.ok) throw new Error(issued.error.errorMessage);
    return issued.value;
  };
  const register = (token: string, parameters: Record<string, string>, caller = claim) =>
    f.plane.registerThing(caller, TEMPLATE, { certificateOwnershipToken: token, parameters });
  const statusOf = (id: string) => f.plane.describeCertificate(id)?.status;

  it("GIVEN a CSR WHEN CreateCertificateFromCsr THEN the certificate is PENDING_ACTIVATION and cannot connect", async () => {
    const cert = await newCertificate("SN-P1");
    expect([
      statusOf(cert.certificateId),
      f.plane.authorize({ action: "iot:Connect", resource: "SN-P1", clientId: "SN-P1", certificateId: cert.certificateId }),
    ]).toEqual(["PENDING_ACTIVATION", { allowed: false, reason: "certificate-not-active" }]);
  });

  it("GIVEN an issued certificate WHEN RegisterThing is accepted THEN it is ACTIVE, attached to the thing with the device policy", async () => {
    const cert = await newCertificate("SN-OK");
    const answer = await register(cert.certificateOwnershipToken, { SerialNumber: "SN-OK", DeviceType: "thermostat" });
    const arn = f.plane.registry.certificateArn(cert.certificateId);
    expect(answer).toEqual({ ok: true, value: { thingName: "SN-OK", deviceConfiguration: { TelemetryRuleName: names.telemetryStoreRule } } });
    expect([statusOf(cert.certificateId), f.plane.registry.principalThings(arn), f.plane.registry.attachedPolicies(arn).map((p) => p.policyName)]).toEqual([
      "ACTIVE",
      ["SN-OK"],
      [names.devicePolicy],
    ]);
  });

  it("GIVEN an accepted RegisterThing WHEN the thing is read THEN type, group and attributes come from the synthesized template", async () => {
    const cert = await newCertificate("SN-T");
    await register(cert.certificateOwnershipToken, { SerialNumber: "SN-T", DeviceType: "smart-plug" });
    expect(f.plane.registry.getThing("SN-T")).toMatchObject({
      thingTypeName: names.deviceTypeThing("smart-plug"),
      thingGroups: [names.deviceTypeThing("smart-plug")],
      attributes: { serialNumber: "SN-T", deviceType: "smart-plug" },
    });
  });

  it("GIVEN a claim connection WHEN RegisterThing runs THEN the hook gets AWS's event with that connection's client id", async () => {
    const cert = await newCertificate("SN-H");
    await register(cert.certificateOwnershipToken, { SerialNumber: "SN-H", DeviceType: "thermostat" }, { ...claim, clientId: "provision-SN-H" });
    expect(events).toEqual([
      {
        claimCertificateId: f.claimCertificateId,
        certificateId: cert.certificateId,
        certificatePem: cert.certificatePem,
        templateArn: f.plane.registry.arn(`provisioningtemplate/${TEMPLATE}`),
        clientId: "provision-SN-H",
        parameters: { SerialNumber: "SN-H", DeviceType: "thermostat" },
      },
    ]);
  });

  it("GIVEN the hook overrides DeviceType WHEN the template runs THEN the override decides the thing type", async () => {
    hook = () => ({ allowProvisioning: true, parameterOverrides: { DeviceType: "sensor-hub" } });
    const cert = await newCertificate("SN-O");
    await register(cert.certificateOwnershipToken, { SerialNumber: "SN-O", DeviceType: "SENSOR-HUB" });
    expect(f.plane.registry.getThing("SN-O")?.thingTypeName).toBe(names.deviceTypeThing("sensor-hub"));
  });

  it("fails when the hook denies: 403 AccessDenied, the certificate stays PENDING_ACTIVATION and no thing exists", async () => {
    hook = () => ({ allowProvisioning: false });
    const cert = await newCertificate("SN-D");
    const answer = await register(cert.certificateOwnershipToken, { SerialNumber: "SN-D", DeviceType: "thermostat" });
    expect(answer).toEqual({ ok: false, error: { statusCode: 403, errorCode: "AccessDenied", errorMessage: expect.any(String) } });
    expect([statusOf(cert.certificateId), f.plane.registry.getThing("SN-D")]).toEqual(["PENDING_ACTIVATION", undefined]);
  });

  it("fails when the hook does not answer before the deadline: 500, certificate still PENDING_ACTIVATION", async () => {
    hook = () => new Promise(() => undefined);
    const cert = await newCertificate("SN-SLOW");
    const answer = await register(cert.certificateOwnershipToken, { SerialNumber: "SN-SLOW", DeviceType: "thermostat" });
    expect([answer.ok ? 0 : answer.error.statusCode, statusOf(cert.certificateId)]).toEqual([500, "PENDING_ACTIVATION"]);
  });

  it("fails when the hook throws: 500, certificate still PENDING_ACTIVATION", async () => {
    hook = () => {
      throw new Error("boom");
    };
    const cert = await newCertificate("SN-THROW");
    const answer = await register(cert.certificateOwnershipToken, { SerialNumber: "SN-THROW", DeviceType: "thermostat" });
    expect([answer.ok ? 0 : answer.error.errorCode, statusOf(cert.certificateId)]).toEqual(["InternalFailure", "PENDING_ACTIVATION"]);
  });

  it("fails when the ownership token is unknown: 400 InvalidCertificateOwnershipToken and the hook is not called", async () => {
    const answer = await register("forged-token", { SerialNumber: "SN-F", DeviceType: "thermostat" });
    expect([answer.ok ? "" : answer.error.errorCode, events.length]).toEqual(["InvalidCertificateOwnershipToken", 0]);
  });

  it("fails when the ownership token is empty", async () => {
    const answer = await register("", { SerialNumber: "SN-F", DeviceType: "thermostat" });
    expect(answer).toEqual({
      ok: false,
      error: { statusCode: 400, errorCode: "InvalidCertificateOwnershipToken", errorMessage: "Certificate ownership token cannot be empty." },
    });
  });

  it("fails when the ownership token is older than one hour, and the certificate stays PENDING_ACTIVATION", async () => {
    const cert = await newCertificate("SN-OLD");
    clock += 3_600_000;
    const answer = await register(cert.certificateOwnershipToken, { SerialNumber: "SN-OLD", DeviceType: "thermostat" });
    expect([answer.ok ? "" : answer.error.errorCode, statusOf(cert.certificateId)]).toEqual(["InvalidCertificateOwnershipToken", "PENDING_ACTIVATION"]);
  });

  it("fails when the ownership token was issued to another claim certificate", async () => {
    const cert = await newCertificate("SN-OTHER");
    const answer = await register(
      cert.certificateOwnershipToken,
      { SerialNumber: "SN-OTHER", DeviceType: "thermostat" },
      { clientId: "provision-x", certificateId: f.controllerCertificateId },
    );
    expect([answer.ok ? "" : answer.error.errorCode, statusOf(cert.certificateId)]).toEqual(["InvalidCertificateOwnershipToken", "PENDING_ACTIVATION"]);
  });

  it("GIVEN an accepted RegisterThing whose answer was lost WHEN retried with the same token THEN it is accepted again", async () => {
    const cert = await newCertificate("SN-R");
    const first = await register(cert.certificateOwnershipToken, { SerialNumber: "SN-R", DeviceType: "thermostat" });
    const retry = await register(cert.certificateOwnershipToken, { SerialNumber: "SN-R", DeviceType: "thermostat" });
    expect([first, retry, f.plane.registry.thingPrincipals("SN-R")]).toEqual([first, first, [f.plane.registry.certificateArn(cert.certificateId)]]);
  });

  it("fails when a token is replayed after an operator deactivated its certificate, which stays INACTIVE", async () => {
    const cert = await newCertificate("SN-DEACT");
    await register(cert.certificateOwnershipToken, { SerialNumber: "SN-DEACT", DeviceType: "thermostat" });
    f.plane.registry.setCertificateStatus(cert.certificateId, "INACTIVE");
    const replay = await register(cert.certificateOwnershipToken, { SerialNumber: "SN-DEACT", DeviceType: "thermostat" });
    expect([replay.ok, statusOf(cert.certificateId)]).toEqual([false, "INACTIVE"]);
  });

  it("GIVEN a device that passes AWS::IoT::Certificate::Id of another pending certificate WHEN RegisterThing runs THEN only its own certificate is activated", async () => {
    const other = await newCertificate("SN-VICTIM-PENDING");
    const own = await newCertificate("SN-SPOOF");
    await register(own.certificateOwnershipToken, { SerialNumber: "SN-SPOOF", DeviceType: "thermostat", "AWS::IoT::Certificate::Id": other.certificateId });
    expect([statusOf(own.certificateId), statusOf(other.certificateId)]).toEqual(["ACTIVE", "PENDING_ACTIVATION"]);
  });

  it("fails when the certificate of the token was deleted meanwhile", async () => {
    const cert = await newCertificate("SN-DELETED");
    f.plane.registry.deleteCertificate(cert.certificateId);
    const answer = await register(cert.certificateOwnershipToken, { SerialNumber: "SN-DELETED", DeviceType: "thermostat" });
    expect([answer.ok ? "" : answer.error.errorCode, f.plane.registry.getThing("SN-DELETED")]).toEqual(["InvalidCertificateOwnershipToken", undefined]);
  });

  it("fails when a required template parameter is missing: 400 InvalidParameters, nothing written", async () => {
    const cert = await newCertificate("SN-M");
    const answer = await register(cert.certificateOwnershipToken, { SerialNumber: "SN-M" });
    expect([answer.ok ? "" : answer.error.errorCode, statusOf(cert.certificateId), f.plane.registry.getThing("SN-M")]).toEqual([
      "InvalidParameters",
      "PENDING_ACTIVATION",
      undefined,
    ]);
  });

  it("fails when the device type names no synthesized thing type: refused before any write", async () => {
    const cert = await newCertificate("SN-U");
    const answer = await register(cert.certificateOwnershipToken, { SerialNumber: "SN-U", DeviceType: "toaster" });
    expect([answer.ok ? 0 : answer.error.statusCode, statusOf(cert.certificateId), f.plane.registry.getThing("SN-U")]).toEqual([
      400,
      "PENDING_ACTIVATION",
      undefined,
    ]);
  });

  it("fails when the template is unknown: 404", async () => {
    const cert = await newCertificate("SN-N");
    const answer = await f.plane.registerThing(claim, "other-template", { certificateOwnershipToken: cert.certificateOwnershipToken, parameters: {} });
    expect(answer.ok ? 0 : answer.error.statusCode).toBe(404);
  });

  it("fails when the CSR is not a PKCS#10 request: 400 InvalidCertificateSigningRequest", async () => {
    const answer = await f.plane.createCertificateFromCsr(claim, "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----");
    expect(answer.ok ? "" : answer.error.errorCode).toBe("InvalidCertificateSigningRequest");
  });

  it("GIVEN a CSR whose CN is a running device's thing name WHEN provisioned as another serial THEN it still cannot act as that device", async () => {
    const victim = await provisionDevice(f, "SN-VICTIM");
    const cert = await newCertificate("SN-VICTIM");
    await register(cert.certificateOwnershipToken, { SerialNumber: "SN-ATTACKER", DeviceType: "thermostat" });
    const asVictim = (certificateId: string) =>
      f.plane.authorize({ action: "iot:Subscribe", resource: "devices/SN-VICTIM/commands", clientId: "SN-VICTIM", certificateId }).allowed;
    expect([asVictim(cert.certificateId), asVictim(victim)]).toEqual([false, true]);
  });

  it("GIVEN CreateKeysAndCertificate WHEN called THEN it returns an RSA 2048 PKCS#1 key for a PENDING_ACTIVATION certificate", async () => {
    const answer = await f.plane.createKeysAndCertificate(claim);
    if (!answer.ok) throw new Error(answer.error.errorMessage);
    const { certificatePem, privateKey, certificateId } = answer.value;
    const cert = new X509Certificate(certificatePem);
    expect([
      pemLabel(privateKey!) === "RSA PRIVATE KEY",
      cert.publicKey.asymmetricKeyDetails?.modulusLength,
      cert.checkPrivateKey(createPrivateKey(privateKey!)),
      statusOf(certificateId),
    ]).toEqual([true, 2048, true, "PENDING_ACTIVATION"]);
  });

  it("GIVEN a device re-provisioned with a new certificate WHEN the template runs again THEN attributes merge and both certificates stay attached", async () => {
    const first = await provisionDevice(f, "SN-AGAIN");
    f.plane.registry.putThing({ thingName: "SN-AGAIN", attributes: { ...f.plane.registry.getThing("SN-AGAIN")!.attributes, room: "kitchen" } });
    const second = await provisionDevice(f, "SN-AGAIN", "smart-plug");
    const thing = f.plane.registry.getThing("SN-AGAIN")!;
    expect([thing.attributes, thing.thingTypeName, new Set(thing.thingGroups), f.plane.registry.thingPrincipals("SN-AGAIN").length]).toEqual([
      { serialNumber: "SN-AGAIN", deviceType: "smart-plug", room: "kitchen" },
      names.deviceTypeThing("smart-plug"),
      new Set([names.deviceTypeThing("thermostat"), names.deviceTypeThing("smart-plug")]),
      [first, second].length,
    ]);
  });
});
