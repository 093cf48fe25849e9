/**
 * The loader reads the IoT resources the stacks synthesize — from memory or from a `cdktf.out` — and
 * refuses what it cannot resolve instead of guessing.
 */
import { rmSync } from "node:fs";
import { CLAIM_IDENTITY, CONTROLLER_IDENTITY } from "../../../local/iot-core/stack-identities";
import { iotFromCdktfOut, iotFromTerraform } from "../../../local/iot-core/synthesized-iot";
import { synthOfflineApp } from "../../support/offline-app";
import { devIot, names } from "./identity-fixture";

const WHERE = { region: "eu-west-1", accountId: "111111111111" };

describe("synthesized IoT resources", () => {
  it("GIVEN the dev app WHEN loaded THEN the device, controller and claim policies are there", () => {
    expect([...devIot().policies.keys()].sort()).toEqual([names.claimPolicy, names.controllerPolicy, names.devicePolicy].sort());
  });

  it("GIVEN the dev app WHEN loaded THEN the claim and controller certificates carry the stacks' attachments", () => {
    expect(devIot().certificates).toEqual(
      expect.arrayContaining([
        { key: CLAIM_IDENTITY, active: true, policyNames: [names.claimPolicy], thingNames: [] },
        { key: CONTROLLER_IDENTITY, active: true, policyNames: [names.controllerPolicy], thingNames: [names.controllerThing] },
      ]),
    );
  });

  it("GIVEN the dev app WHEN loaded THEN the provisioning template names a hook and a thing type exists per device type", () => {
    const iot = devIot();
    expect([iot.provisioningTemplates.get(names.provisioningTemplate)?.hasPreProvisioningHook, [...iot.thingTypes].sort()]).toEqual([
      true,
      ["thermostat", "smart-plug", "sensor-hub"].map(names.deviceTypeThing).sort(),
    ]);
  });

  it("GIVEN a cdktf.out synthesized with IOT_OFFLINE WHEN read THEN it yields the same policies as the in-memory synth", () => {
    const { outdir } = synthOfflineApp("dev");
    try {
      expect(iotFromCdktfOut(outdir, WHERE).policies).toEqual(devIot().policies);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });

  it("fails when a policy's document is an interpolation the twin cannot resolve", () => {
    const tf = { resource: { aws_iot_policy: { p: { name: "p", policy: "${jsonencode(local.doc)}" } } } };
    expect(() => iotFromTerraform({ iot: tf }, WHERE)).toThrow(/aws_iot_policy.policy = \$\{jsonencode\(local.doc\)\} is not a reference the twin can resolve/);
  });

  it("fails when a policy attachment targets something that is not a certificate of the stack", () => {
    const tf = {
      resource: {
        aws_iot_policy: { p: { name: "p", policy: "{}" } },
        aws_iot_policy_attachment: { a: { policy: "p", target: "${aws_iot_certificate.missing.arn}" } },
      },
    };
    expect(() => iotFromTerraform({ iot: tf }, WHERE)).toThrow(/is not a certificate of this stack/);
  });
});
