import { Testing, TerraformStack } from "cdktf";
import {
  CLAIM_CLIENT_PREFIX,
  IotPolicy,
  THING_NAME,
  claimPolicyStatements,
  controllerPolicyStatements,
  devicePolicyStatements,
} from "../../modules/iot-policy";
import { CLAIM_CLIENT_PREFIX as FUNCTIONS_CLAIM_CLIENT_PREFIX } from "../../functions/shared/registry";

const iotArn = (resource: string) => `arn:aws:iot:eu-west-1:111111111111:${resource}`;
const resourcesOf = (statements: ReturnType<typeof devicePolicyStatements>, action: string) =>
  statements.filter((s) => s.actions.includes(action)).flatMap((s) => s.resources ?? []);

describe("IoT policies", () => {
  test("THING_NAME renders as ${iot:Connection.Thing.ThingName} through aws_iam_policy_document", () => {
    // aws_iam_policy_document replaces &{ with ${; a literal ${ would be a Terraform interpolation.
    expect(THING_NAME).toBe("&{iot:Connection.Thing.ThingName}");
  });

  test("device statements touch no other thing's topics (the rotation topics name no thing)", () => {
    const resources = devicePolicyStatements(iotArn, "shf-dev-pi-rotation", "shf_dev_telemetry_store").flatMap((s) => s.resources ?? []);
    for (const r of resources.filter((r) => !/\$aws\/(certificates|provisioning-templates)\//.test(r))) expect(r).toContain(`/${THING_NAME}`);
    expect(resources.some((r) => /devices\/\*|\/\+\//.test(r))).toBe(false);
  });

  test("device statements let a device subscribe to its commands, jobs, shadow and the rotation answers only", () => {
    expect(resourcesOf(devicePolicyStatements(iotArn, "shf-dev-pi-rotation", "shf_dev_telemetry_store"), "iot:Subscribe")).toEqual([
      iotArn(`topicfilter/devices/${THING_NAME}/commands`),
      iotArn(`topicfilter/$aws/things/${THING_NAME}/jobs/*`),
      iotArn(`topicfilter/$aws/things/${THING_NAME}/shadow/*`),
      iotArn("topicfilter/$aws/certificates/create-from-csr/json/accepted"),
      iotArn("topicfilter/$aws/certificates/create-from-csr/json/rejected"),
      iotArn("topicfilter/$aws/provisioning-templates/shf-dev-pi-rotation/provision/json/accepted"),
      iotArn("topicfilter/$aws/provisioning-templates/shf-dev-pi-rotation/provision/json/rejected"),
    ]);
  });

  test("device statements publish only the JSON rotation requests of the rotation template, never the claim template's", () => {
    const publish = resourcesOf(devicePolicyStatements(iotArn, "shf-dev-pi-rotation", "shf_dev_telemetry_store"), "iot:Publish").filter(
      (r) => r.includes("$aws/") && !r.includes("$aws/things/") && !r.includes("$aws/rules/"),
    );
    expect(publish).toEqual([
      iotArn("topic/$aws/certificates/create-from-csr/json"),
      iotArn("topic/$aws/provisioning-templates/shf-dev-pi-rotation/provision/json"),
    ]);
  });

  test("device statements publish telemetry through Basic Ingest to exactly the store rule, and still on the plain topic (old firmware)", () => {
    const telemetry = resourcesOf(devicePolicyStatements(iotArn, "shf-dev-pi-rotation", "shf_dev_telemetry_store"), "iot:Publish").filter((r) =>
      r.endsWith("/telemetry"),
    );
    expect(telemetry).toEqual([
      iotArn(`topic/$aws/rules/shf_dev_telemetry_store/devices/${THING_NAME}/telemetry`),
      iotArn(`topic/devices/${THING_NAME}/telemetry`),
    ]);
  });

  test("controller statements connect only as the controller thing", () => {
    expect(resourcesOf(controllerPolicyStatements(iotArn, "shf-dev-controller"), "iot:Connect")).toEqual([iotArn("client/shf-dev-controller")]);
  });

  test("claim statements reach only the CSR topics and this template's provision topics", () => {
    const topics = claimPolicyStatements(iotArn, "tpl").flatMap((s) => (s.actions.includes("iot:Connect") ? [] : (s.resources ?? [])));
    expect(new Set(topics.map((r) => r.replace(/^.*:topic(filter)?\//, "")))).toEqual(
      new Set(["$aws/certificates/create-from-csr/*", "$aws/provisioning-templates/tpl/provision/*"]),
    );
  });

  test("claim statements connect only with provisioning client ids", () => {
    expect(resourcesOf(claimPolicyStatements(iotArn, "tpl"), "iot:Connect")).toEqual([iotArn("client/provision-*")]);
  });

  test("IotPolicy renders its document through aws_iam_policy_document", () => {
    const stack = new TerraformStack(Testing.app(), "test");
    new IotPolicy(stack, "device-policy", {
      policyName: "shf-dev-device",
      statements: devicePolicyStatements(iotArn, "shf-dev-pi-rotation", "shf_dev_telemetry_store"),
    });
    expect(Testing.synth(stack)).toHaveResourceWithProperties(
      { tfResourceType: "aws_iot_policy" },
      { name: "shf-dev-device", policy: expect.stringMatching(/^\$\{data\.aws_iam_policy_document\.device-policy_document_[A-Z0-9]+\.json\}$/) },
    );
  });

  test("fails when a statement allows iot:* on every resource", () => {
    const stack = new TerraformStack(Testing.app(), "test");
    expect(() => new IotPolicy(stack, "p", { policyName: "p", statements: [{ actions: ["iot:*"], resources: ["*"] }] })).toThrow(
      /allows "iot:\*" on every resource/,
    );
  });

  test("fails when a statement names a non-IoT action", () => {
    const stack = new TerraformStack(Testing.app(), "test");
    expect(() => new IotPolicy(stack, "p", { policyName: "p", statements: [{ actions: ["s3:GetObject"], resources: ["arn:aws:s3:::b/*"] }] })).toThrow(
      /non-IoT actions/,
    );
  });
});

test("the claim policy's client id prefix is the one the functions treat as a claim connection", () => {
  // modules may not import functions, so the two constants are kept equal by this test
  expect(CLAIM_CLIENT_PREFIX).toBe(FUNCTIONS_CLAIM_CLIENT_PREFIX);
});
