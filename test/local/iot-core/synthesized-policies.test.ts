/**
 * The identity plane authorizes with the device, claim and controller policies exactly as the stacks
 * synthesize them (modules/iot-policy.ts through aws_iam_policy_document), including the hostile paths:
 * another thing's topics, `#`, a client id that is not the thing, an unattached certificate.
 */
import { TerraformStack, Testing } from "cdktf";
import { IotPolicy, devicePolicyStatements, claimPolicyStatements } from "../../../modules/iot-policy";
import { DataPlaneAction } from "../../../local/iot-core/contracts";
import { evaluatePolicies, parsePolicyDocument } from "../../../local/iot-core/policy-engine";
import { TerraformJson, iotFromTerraform } from "../../../local/iot-core/synthesized-iot";
import { PlaneFixture, devIot, names, provisionDevice, startPlane } from "./identity-fixture";

describe("synthesized IoT policies in the identity plane", () => {
  let f: PlaneFixture;
  let sn1: string;
  let sn2: string;
  const ask = (certificateId: string, clientId: string, action: DataPlaneAction, resource: string) =>
    f.plane.authorize({ certificateId, clientId, action, resource });

  beforeAll(async () => {
    f = await startPlane();
    sn1 = await provisionDevice(f, "SN-1");
    sn2 = await provisionDevice(f, "SN-2");
  });

  afterAll(() => f?.close());

  describe("device policy", () => {
    it("GIVEN a provisioned device WHEN it connects with its thing name THEN it is allowed", () => {
      expect(ask(sn1, "SN-1", "iot:Connect", "SN-1")).toEqual({ allowed: true });
    });

    it("GIVEN a provisioned device WHEN it connects as another thing THEN it is refused", () => {
      expect(ask(sn1, "SN-2", "iot:Connect", "SN-2")).toEqual({ allowed: false, reason: "no-policy-allows" });
    });

    it("GIVEN a provisioned device WHEN it connects with a client id that is no thing THEN it is refused", () => {
      expect(ask(sn1, "provision-SN-1", "iot:Connect", "provision-SN-1")).toEqual({ allowed: false, reason: "no-policy-allows" });
    });

    it("GIVEN a device WHEN it subscribes to its own commands THEN it is allowed", () => {
      expect(ask(sn1, "SN-1", "iot:Subscribe", "devices/SN-1/commands").allowed).toBe(true);
    });

    it("GIVEN a device WHEN it subscribes to another thing's commands THEN it is refused", () => {
      expect(ask(sn1, "SN-1", "iot:Subscribe", "devices/SN-2/commands").allowed).toBe(false);
    });

    it("GIVEN a device WHEN it subscribes to # or devices/+/commands THEN it is refused", () => {
      expect([ask(sn1, "SN-1", "iot:Subscribe", "#").allowed, ask(sn1, "SN-1", "iot:Subscribe", "devices/+/commands").allowed]).toEqual([false, false]);
    });

    it("GIVEN a device WHEN it publishes its telemetry, responses and errors THEN each is allowed", () => {
      const topics = ["telemetry", "responses", "errors"].map((t) => ask(sn1, "SN-1", "iot:Publish", `devices/SN-1/${t}`).allowed);
      expect(topics).toEqual([true, true, true]);
    });

    it("GIVEN a device WHEN it publishes as another thing or to its own commands THEN it is refused", () => {
      expect([ask(sn1, "SN-1", "iot:Publish", "devices/SN-2/telemetry").allowed, ask(sn1, "SN-1", "iot:Publish", "devices/SN-1/commands").allowed]).toEqual([
        false,
        false,
      ]);
    });

    it("GIVEN a device WHEN a message on another thing's commands would reach it THEN Receive is refused", () => {
      expect([ask(sn1, "SN-1", "iot:Receive", "devices/SN-1/commands").allowed, ask(sn1, "SN-1", "iot:Receive", "devices/SN-2/commands").allowed]).toEqual([
        true,
        false,
      ]);
    });

    it("GIVEN a device WHEN it uses its own jobs topics and another thing's THEN only its own are allowed", () => {
      expect([
        ask(sn1, "SN-1", "iot:Subscribe", "$aws/things/SN-1/jobs/notify-next").allowed,
        ask(sn1, "SN-1", "iot:Subscribe", "$aws/things/SN-2/jobs/notify-next").allowed,
      ]).toEqual([true, false]);
    });

    it("GIVEN a device certificate detached from its thing WHEN it connects and publishes THEN both are refused", () => {
      f.plane.registry.detachThingPrincipal("SN-2", f.plane.registry.certificateArn(sn2));
      try {
        expect([ask(sn2, "SN-2", "iot:Connect", "SN-2").allowed, ask(sn2, "SN-2", "iot:Publish", "devices/SN-2/telemetry").allowed]).toEqual([false, false]);
      } finally {
        f.plane.registry.attachThingPrincipal("SN-2", f.plane.registry.certificateArn(sn2));
      }
    });

    it("GIVEN an inactive device certificate WHEN it asks for anything THEN it is refused as not active", () => {
      f.plane.registry.setCertificateStatus(sn2, "INACTIVE");
      try {
        expect(ask(sn2, "SN-2", "iot:Connect", "SN-2")).toEqual({ allowed: false, reason: "certificate-not-active" });
      } finally {
        f.plane.registry.setCertificateStatus(sn2, "ACTIVE");
      }
    });

    it("GIVEN a certificate the twin never issued WHEN it connects THEN it is refused as unknown", () => {
      expect(ask("0".repeat(64), "SN-1", "iot:Connect", "SN-1")).toEqual({ allowed: false, reason: "certificate-unknown" });
    });
  });

  describe("claim policy", () => {
    it("GIVEN the claim certificate WHEN it connects as provision-* THEN it is allowed", () => {
      expect(ask(f.claimCertificateId, "provision-SN-9", "iot:Connect", "provision-SN-9").allowed).toBe(true);
    });

    it("GIVEN the claim certificate WHEN it connects as a device's thing name THEN it is refused", () => {
      expect(ask(f.claimCertificateId, "SN-1", "iot:Connect", "SN-1").allowed).toBe(false);
    });

    it("GIVEN the claim certificate WHEN it uses CreateCertificateFromCsr and this template's topics THEN it is allowed", () => {
      const c = f.claimCertificateId;
      const id = "provision-SN-9";
      expect([
        ask(c, id, "iot:Publish", "$aws/certificates/create-from-csr/json").allowed,
        ask(c, id, "iot:Subscribe", "$aws/certificates/create-from-csr/cbor/accepted").allowed,
        ask(c, id, "iot:Publish", `$aws/provisioning-templates/${names.provisioningTemplate}/provision/json`).allowed,
        ask(c, id, "iot:Receive", `$aws/provisioning-templates/${names.provisioningTemplate}/provision/json/accepted`).allowed,
      ]).toEqual([true, true, true, true]);
    });

    it("GIVEN the claim certificate WHEN it asks for CreateKeysAndCertificate THEN it is refused (the policy allows only the CSR flow)", () => {
      const c = f.claimCertificateId;
      expect([
        ask(c, "provision-SN-9", "iot:Publish", "$aws/certificates/create/json").allowed,
        ask(c, "provision-SN-9", "iot:Subscribe", "$aws/certificates/create/json/accepted").allowed,
      ]).toEqual([false, false]);
    });

    it("GIVEN the claim certificate WHEN it uses another template's topics THEN it is refused", () => {
      expect(ask(f.claimCertificateId, "provision-SN-9", "iot:Publish", "$aws/provisioning-templates/other/provision/json").allowed).toBe(false);
    });

    it("GIVEN the claim certificate WHEN it touches devices/* THEN every action is refused", () => {
      const c = f.claimCertificateId;
      const id = "provision-SN-9";
      expect([
        ask(c, id, "iot:Subscribe", "devices/SN-1/commands").allowed,
        ask(c, id, "iot:Subscribe", "devices/#").allowed,
        ask(c, id, "iot:Publish", "devices/SN-1/telemetry").allowed,
        ask(c, id, "iot:Receive", "devices/SN-1/commands").allowed,
      ]).toEqual([false, false, false, false]);
    });
  });

  describe("controller policy", () => {
    it("GIVEN the controller certificate WHEN it connects as the controller thing THEN it is allowed, and as a device it is refused", () => {
      const c = f.controllerCertificateId;
      expect([ask(c, names.controllerThing, "iot:Connect", names.controllerThing).allowed, ask(c, "SN-1", "iot:Connect", "SN-1").allowed]).toEqual([
        true,
        false,
      ]);
    });

    it("GIVEN the controller WHEN it commands any device and reads devices/+/responses THEN both are allowed", () => {
      const c = f.controllerCertificateId;
      const id = names.controllerThing;
      expect([ask(c, id, "iot:Publish", "devices/SN-2/commands").allowed, ask(c, id, "iot:Subscribe", "devices/+/responses").allowed]).toEqual([true, true]);
    });

    it("GIVEN the controller WHEN it subscribes to # or publishes as a device THEN it is refused", () => {
      const c = f.controllerCertificateId;
      const id = names.controllerThing;
      expect([ask(c, id, "iot:Subscribe", "#").allowed, ask(c, id, "iot:Publish", "devices/SN-1/telemetry").allowed]).toEqual([false, false]);
    });
  });
});

describe("policies follow modules/iot-policy.ts", () => {
  const { region, accountId } = devIot();
  const iotArn = (resource: string) => `arn:aws:iot:${region}:${accountId}:${resource}`;
  const device = { clientId: "SN-1", certificateId: "c", thing: { thingName: "SN-1", attributes: {} } };
  const policyFrom = (build: (stack: TerraformStack) => void): string => {
    const stack = new TerraformStack(Testing.app(), "probe");
    build(stack);
    const iot = iotFromTerraform({ probe: JSON.parse(Testing.synth(stack)) as TerraformJson }, { region, accountId });
    return iot.policies.get("probe")!;
  };

  it("GIVEN the device builder with an added Deny statement WHEN synthesized and evaluated THEN the decision flips to deny", () => {
    const topic = iotArn("topic/devices/SN-1/telemetry");
    const plain = policyFrom(
      (s) => new IotPolicy(s, "p", { policyName: "probe", statements: devicePolicyStatements(iotArn, "shf-dev-pi-rotation", "shf_dev_telemetry_store") }),
    );
    const withDeny = policyFrom(
      (s) =>
        new IotPolicy(s, "p", {
          policyName: "probe",
          statements: [
            ...devicePolicyStatements(iotArn, "shf-dev-pi-rotation", "shf_dev_telemetry_store"),
            { effect: "Deny", actions: ["iot:Publish"], resources: [iotArn("topic/devices/*/telemetry")] },
          ],
        }),
    );
    expect([
      evaluatePolicies([parsePolicyDocument(plain)], "iot:Publish", topic, device),
      evaluatePolicies([parsePolicyDocument(withDeny)], "iot:Publish", topic, device),
    ]).toEqual(["allowed", "explicit-deny"]);
  });

  it("GIVEN the claim builder for another template WHEN synthesized and evaluated THEN our template's topics are refused", () => {
    const claim = { clientId: "provision-1", certificateId: "c" };
    const topic = iotArn(`topic/$aws/provisioning-templates/${names.provisioningTemplate}/provision/json`);
    const other = policyFrom((s) => new IotPolicy(s, "p", { policyName: "probe", statements: claimPolicyStatements(iotArn, "another-template") }));
    expect(evaluatePolicies([parsePolicyDocument(other)], "iot:Publish", topic, claim)).toBe("no-policy-allows");
  });

  it("GIVEN the synthesized device policy WHEN read THEN its thing variable reads ${...} (the &{ rewrite of aws_iam_policy_document)", () => {
    const device = devIot().policies.get(names.devicePolicy)!;
    expect(device).toContain("client/${iot:Connection.Thing.ThingName}");
    expect(device).not.toContain("&{");
  });
});
