/**
 * The provisioning template evaluator on its own: parameters and defaults, intrinsic functions,
 * conditions, override settings, DeviceConfiguration, and the refusals that keep a template from being
 * half-applied.
 */
import { provisioningTemplateBody } from "../../../stacks/fleet-provisioning-stack";
import { TemplateError, evaluateProvisioningTemplate } from "../../../local/iot-core/provisioning-template";

const CERT = { "AWS::IoT::Certificate::Id": "abc123" };
const body = (b: object) => JSON.stringify(b);
const thingTemplate = (properties: object, extra: object = {}) =>
  body({
    Parameters: { SerialNumber: { Type: "String" }, Kind: { Type: "String", Default: "pi" } },
    Resources: { thing: { Type: "AWS::IoT::Thing", Properties: properties } },
    ...extra,
  });

describe("evaluateProvisioningTemplate", () => {
  it("GIVEN our fleet template WHEN evaluated THEN thing, type, group, attributes, certificate and policy come out", () => {
    const plan = evaluateProvisioningTemplate(
      JSON.stringify(provisioningTemplateBody("shf-dev-", "shf-dev-device", "shf_dev_telemetry_store")),
      { SerialNumber: "SN-1", DeviceType: "thermostat" },
      CERT,
    );
    expect(plan).toEqual({
      thing: {
        thingName: "SN-1",
        thingTypeName: "shf-dev-thermostat",
        thingGroups: ["shf-dev-thermostat"],
        attributes: { serialNumber: "SN-1", deviceType: "thermostat" },
        overrides: { attributes: "MERGE", thingTypeName: "REPLACE", thingGroups: "MERGE" },
      },
      certificate: { certificateId: "abc123", status: "ACTIVE" },
      policyNames: ["shf-dev-device"],
      deviceConfiguration: { TelemetryRuleName: "shf_dev_telemetry_store" },
    });
  });

  it("GIVEN a parameter with a Default WHEN the device omits it THEN the default is used", () => {
    const plan = evaluateProvisioningTemplate(
      thingTemplate({ ThingName: { "Fn::Join": ["-", [{ Ref: "Kind" }, { Ref: "SerialNumber" }]] } }),
      { SerialNumber: "1" },
      CERT,
    );
    expect(plan.thing?.thingName).toBe("pi-1");
  });

  it("GIVEN Fn::Sub, Fn::Split and Fn::Select WHEN evaluated THEN they compose", () => {
    const plan = evaluateProvisioningTemplate(
      thingTemplate({
        ThingName: { "Fn::Sub": "${Kind}_${SerialNumber}" },
        AttributePayload: { site: { "Fn::Select": [1, { "Fn::Split": ["/", { Ref: "SerialNumber" }] }] } },
      }),
      { SerialNumber: "b7/room2" },
      CERT,
    );
    expect([plan.thing?.thingName, plan.thing?.attributes]).toEqual(["pi_b7/room2", { site: "room2" }]);
  });

  it("GIVEN a resource Condition and Fn::If WHEN the condition is false THEN the resource is skipped and the other branch taken", () => {
    const template = body({
      Parameters: { SerialNumber: { Type: "String" }, Env: { Type: "String" } },
      Conditions: { IsProd: { "Fn::Equals": [{ Ref: "Env" }, "prod"] } },
      Resources: {
        thing: {
          Type: "AWS::IoT::Thing",
          Properties: { ThingName: { Ref: "SerialNumber" }, AttributePayload: { tier: { "Fn::If": ["IsProd", "gold", "dev"] } } },
        },
        policy: { Type: "AWS::IoT::Policy", Condition: "IsProd", Properties: { PolicyName: "prod-only" } },
      },
    });
    const plan = evaluateProvisioningTemplate(template, { SerialNumber: "1", Env: "dev" }, CERT);
    expect([plan.thing?.attributes, plan.policyNames]).toEqual([{ tier: "dev" }, []]);
  });

  it("GIVEN Mappings WHEN Fn::FindInMap is used THEN the mapped value is returned", () => {
    const template = thingTemplate(
      { ThingName: { Ref: "SerialNumber" }, ThingTypeName: { "Fn::FindInMap": ["Types", { Ref: "Kind" }, "type"] } },
      { Mappings: { Types: { pi: { type: "raspberry" } } } },
    );
    expect(evaluateProvisioningTemplate(template, { SerialNumber: "1" }, CERT).thing?.thingTypeName).toBe("raspberry");
  });

  it("GIVEN DeviceConfiguration WHEN evaluated THEN it is returned with references resolved", () => {
    const template = thingTemplate({ ThingName: { Ref: "SerialNumber" } }, { DeviceConfiguration: { Fallback: "false", Name: { Ref: "SerialNumber" } } });
    expect(evaluateProvisioningTemplate(template, { SerialNumber: "SN-9" }, CERT).deviceConfiguration).toEqual({ Fallback: "false", Name: "SN-9" });
  });

  it("GIVEN a device parameter named like a system parameter WHEN evaluated THEN AWS's value wins", () => {
    const template = body({
      Parameters: { "AWS::IoT::Certificate::Id": { Type: "String" } },
      Resources: { c: { Type: "AWS::IoT::Certificate", Properties: { CertificateId: { Ref: "AWS::IoT::Certificate::Id" }, Status: "Inactive" } } },
    });
    expect(evaluateProvisioningTemplate(template, { "AWS::IoT::Certificate::Id": "someone-elses" }, CERT).certificate).toEqual({
      certificateId: "abc123",
      status: "INACTIVE",
    });
  });

  it("fails when a template needs an AWS:: parameter the twin does not fill, even if the device sends it", () => {
    const template = body({ Parameters: { "AWS::IoT::Certificate::Country": { Type: "String" } }, Resources: {} });
    expect(() => evaluateProvisioningTemplate(template, { "AWS::IoT::Certificate::Country": "XX" }, CERT)).toThrow(/AWS::IoT::Certificate::Country/);
  });

  it("fails when a parameter without Default is missing", () => {
    expect(() => evaluateProvisioningTemplate(thingTemplate({ ThingName: { Ref: "SerialNumber" } }), {}, CERT)).toThrow(
      expect.objectContaining({ errorCode: "InvalidParameters", message: expect.stringMatching(/SerialNumber/) }),
    );
  });

  it("fails when the template uses an intrinsic the twin does not evaluate", () => {
    expect(() => evaluateProvisioningTemplate(thingTemplate({ ThingName: { "Fn::Base64": "x" } }), { SerialNumber: "1" }, CERT)).toThrow(TemplateError);
  });

  it("fails when the template has a resource type the twin does not provision", () => {
    const template = body({ Resources: { role: { Type: "AWS::IAM::Role", Properties: {} } } });
    expect(() => evaluateProvisioningTemplate(template, {}, CERT)).toThrow(/AWS::IAM::Role is not supported/);
  });

  it("fails when a policy is given inline rather than by name", () => {
    const template = body({ Resources: { policy: { Type: "AWS::IoT::Policy", Properties: { PolicyDocument: "{}" } } } });
    expect(() => evaluateProvisioningTemplate(template, {}, CERT)).toThrow(/by PolicyName only/);
  });
});
