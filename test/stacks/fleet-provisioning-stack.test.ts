import { FleetProvisioningStack, provisioningTemplateBody, rotationTemplateBody } from "../../stacks/fleet-provisioning-stack";
import { policyStatements, resourcesOf, synthStack } from "../support/synth";
import { alarmTopic, iotDataEndpoint, iotServiceRoles, registryTable, wildcardActions } from "./fleet-refs";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { identityCsrFile } from "../../stacks/shared/identity";
import { identityRootWithCsrs } from "../support/identity-csrs";

const identityRoot = identityRootWithCsrs(["dev"]);
const synth = (root = identityRoot) =>
  synthStack(
    (app, props) =>
      new FleetProvisioningStack(app, "fleet", { ...props, iotServiceRoles, registryTable, alarmTopic, devicePolicyName: "shf-dev-device", iotDataEndpoint }),
    { identityRoot: root },
  );
const stack = synth();

const values = (type: string) => Object.values(resourcesOf(stack, type)) as Record<string, any>[];
const TEMPLATE_ARN = "arn:aws:iot:eu-west-1:111111111111:provisioningtemplate/shf-dev-pi-provisioning";
const ROTATION_TEMPLATE_ARN = "arn:aws:iot:eu-west-1:111111111111:provisioningtemplate/shf-dev-pi-rotation";
type Statement = { actions: string[]; resources: string[] };
const documentStatements = (prefix: string) =>
  Object.entries(stack.tf.data?.aws_iam_policy_document ?? {})
    .filter(([name]) => name.startsWith(prefix))
    .flatMap(([, doc]) => doc.statement as Statement[]);

describe("FleetProvisioningStack", () => {
  describe("provisioning template", () => {
    const template = () => values("aws_iot_provisioning_template").find((t) => t.name === "shf-dev-pi-provisioning")!;
    const body = () => JSON.parse(template().template_body);

    test("is an enabled fleet-provisioning template run by the provisioning role", () => {
      expect(template()).toMatchObject({
        name: "shf-dev-pi-provisioning",
        enabled: true,
        type: "FLEET_PROVISIONING",
        provisioning_role_arn: iotServiceRoles.provisioning.roleArn,
      });
    });

    test("calls the pre-provisioning hook with payload version 2020-04-01", () => {
      expect(template().pre_provisioning_hook).toEqual({
        payload_version: "2020-04-01",
        target_arn: expect.stringMatching(/aws_lambda_function\.provisioning-hook/),
      });
    });

    test("declares SerialNumber, DeviceType (the hook's only override), ProvisioningToken and the certificate id", () => {
      expect(Object.keys(body().Parameters).sort()).toEqual(["AWS::IoT::Certificate::Id", "DeviceType", "ProvisioningToken", "SerialNumber"]);
    });

    test("declares ProvisioningToken with an empty default, so devices without a token still provision", () => {
      expect(body().Parameters.ProvisioningToken).toEqual({ Type: "String", Default: "" });
    });

    test("never puts the ProvisioningToken into a resource (thing attributes included)", () => {
      expect(JSON.stringify(body().Resources)).not.toContain("ProvisioningToken");
      expect(body().Resources.thing.Properties.AttributePayload).toEqual({ serialNumber: { Ref: "SerialNumber" }, deviceType: { Ref: "DeviceType" } });
    });

    test("names the thing after the serial number, with type and group from the device type", () => {
      const thing = body().Resources.thing;
      const perType = { "Fn::Join": ["", ["shf-dev-", { Ref: "DeviceType" }]] };
      expect(thing.Type).toBe("AWS::IoT::Thing");
      expect(thing.Properties).toMatchObject({ ThingName: { Ref: "SerialNumber" }, ThingTypeName: perType, ThingGroups: [perType] });
    });

    test("activates the certificate the device got from its CSR and attaches the device policy by name", () => {
      expect(body().Resources.certificate).toEqual({
        Type: "AWS::IoT::Certificate",
        Properties: { CertificateId: { Ref: "AWS::IoT::Certificate::Id" }, Status: "Active" },
      });
      expect(body().Resources.policy).toEqual({ Type: "AWS::IoT::Policy", Properties: { PolicyName: "shf-dev-device" } });
    });

    test("tells the device the store rule's name (its Basic Ingest telemetry topic) in DeviceConfiguration", () => {
      expect(body().DeviceConfiguration).toEqual({ TelemetryRuleName: "shf_dev_telemetry_store" });
    });

    test("body is the exported provisioningTemplateBody", () => {
      expect(body()).toEqual(provisioningTemplateBody("shf-dev-", "shf-dev-device", "shf_dev_telemetry_store"));
    });
  });

  describe("pre-provisioning hook", () => {
    test("answers within AWS's 5 s with 256 MiB, on Node.js 22 / arm64", () => {
      expect(stack.json).toHaveResourceWithProperties(
        { tfResourceType: "aws_lambda_function" },
        { function_name: "shf-dev-provisioning-hook", timeout: 5, memory_size: 256, runtime: "nodejs22.x", architectures: ["arm64"] },
      );
    });

    test("gets the environment variables of docs/contracts.md", () => {
      expect(values("aws_lambda_function")[0].environment.variables).toEqual({
        ENVIRONMENT: "dev",
        REGISTRY_TABLE_NAME: "shf-dev-device-registry",
        ALLOWED_DEVICE_TYPES: "thermostat,smart-plug,sensor-hub",
        PROVISIONING_LEASE_SECONDS: "600",
        NAME_PREFIX: "shf-dev",
        ROTATION_TEMPLATE_NAME: "shf-dev-pi-rotation",
      });
    });

    test("may only get and conditionally update registry items", () => {
      const registry = documentStatements("provisioning-hook_grants_registry-table");
      expect(registry).toEqual([
        expect.objectContaining({
          actions: ["dynamodb:GetItem", "dynamodb:UpdateItem"],
          resources: [registryTable.tableArn, `${registryTable.tableArn}/index/*`],
        }),
      ]);
    });

    test("may be invoked only by this template and the rotation template of this account", () => {
      expect(values("aws_lambda_permission")).toEqual([
        expect.objectContaining({ principal: "iot.amazonaws.com", source_arn: TEMPLATE_ARN, source_account: "111111111111" }),
        expect.objectContaining({ principal: "iot.amazonaws.com", source_arn: ROTATION_TEMPLATE_ARN, source_account: "111111111111" }),
      ]);
    });

    test("alarms on a duration near 5 s and on denials, to the alarm topic; error log lines count into the shared metric", () => {
      // Errors, throttles and the shared error-log metric page from the ops stack (LambdaAccountAlarms).
      const alarms = values("aws_cloudwatch_metric_alarm");
      expect(alarms.map((a) => a.metric_name).sort()).toEqual(["Duration", "shf-dev-provisioning-denials"]);
      expect(
        values("aws_cloudwatch_log_metric_filter")
          .map((f) => f.pattern)
          .sort(),
      ).toEqual(["{ $.allowProvisioning IS FALSE }", '{ $.level = "error" }']);
      expect(values("aws_cloudwatch_log_metric_filter").find((f) => f.pattern === '{ $.level = "error" }')!.metric_transformation).toMatchObject({
        name: "shf-dev-function-error-logs",
        namespace: "SmartHomeFleet/Functions",
      });
      expect(alarms.find((a) => a.metric_name === "Duration")).toMatchObject({ statistic: "Maximum", threshold: 4000 });
      for (const a of alarms) expect(a.alarm_actions).toEqual([alarmTopic.topicArn]);
    });
  });

  describe("provisioning denials alarm", () => {
    const filter = () => values("aws_cloudwatch_log_metric_filter").find((f) => f.name === "shf-dev-provisioning-denials");
    const alarm = () => values("aws_cloudwatch_metric_alarm").find((a) => a.alarm_name === "shf-dev-provisioning-denials");

    test("counts the hook's decision lines that deny, in its own log group", () => {
      expect(filter()).toMatchObject({
        pattern: "{ $.allowProvisioning IS FALSE }",
        log_group_name: expect.stringMatching(/provisioning-hook/),
        metric_transformation: { name: "shf-dev-provisioning-denials", namespace: "SmartHomeFleet/Functions", value: "1", unit: "Count" },
      });
    });

    test("fires at the configured rate (provisioning.denialAlarm) and notifies the alarm topic", () => {
      expect(alarm()).toMatchObject({
        metric_name: "shf-dev-provisioning-denials",
        namespace: "SmartHomeFleet/Functions",
        statistic: "Sum",
        threshold: 20,
        period: 300,
        comparison_operator: "GreaterThanOrEqualToThreshold",
        treat_missing_data: "notBreaching",
        alarm_actions: [alarmTopic.topicArn],
        ok_actions: [alarmTopic.topicArn],
      });
    });
  });

  describe("claim certificate", () => {
    test("is active, comes from the committed CSR and is replaced create-before-destroy", () => {
      expect(values("aws_iot_certificate")).toEqual([
        expect.objectContaining({
          active: true,
          csr: readFileSync(join(identityRoot, identityCsrFile("dev", "claim")), "utf8"),
          lifecycle: { create_before_destroy: true },
        }),
      ]);
      expect(Object.keys(resourcesOf(stack, "aws_iot_certificate"))).toEqual(["claim-certificate"]);
    });

    test("fails when the environment has no claim CSR, naming the command that creates it", () => {
      expect(() => synth(tmpdir())).toThrow("Run `IOT_ENV=dev npm run identity -- create claim`");
    });

    test("its policy allows only the CSR and this template's provisioning topics", () => {
      const statements = documentStatements("claim-policy");
      const topics = statements.filter((s) => !s.actions.includes("iot:Connect")).flatMap((s) => s.resources);
      expect(topics.length).toBeGreaterThan(0);
      for (const resource of topics) {
        expect(resource).toMatch(
          /^arn:aws:iot:eu-west-1:111111111111:topic(filter)?\/\$aws\/(certificates\/create-from-csr\/\*|provisioning-templates\/shf-dev-pi-provisioning\/provision\/\*)$/,
        );
      }
      expect(new Set(statements.flatMap((s) => s.actions))).toEqual(new Set(["iot:Connect", "iot:Publish", "iot:Receive", "iot:Subscribe"]));
    });

    test("is attached to the claim policy only, the new attachment made before the old one goes", () => {
      expect(values("aws_iot_policy_attachment")).toEqual([
        expect.objectContaining({ policy: expect.stringContaining("claim-policy"), lifecycle: { create_before_destroy: true } }),
      ]);
      expect(Object.keys(resourcesOf(stack, "aws_iot_policy_attachment"))).toEqual(["claim-policy-certificate"]);
      expect(values("aws_iot_thing_principal_attachment")).toEqual([]);
    });

    test("its key's secret is managed, recoverable for 7 days, but never given a value", () => {
      expect(values("aws_secretsmanager_secret")).toEqual([expect.objectContaining({ name: "shf-dev/claim-certificate", recovery_window_in_days: 7 })]);
      expect(Object.keys(resourcesOf(stack, "aws_secretsmanager_secret"))).toEqual(["claim-secret"]);
      expect(values("aws_secretsmanager_secret_version")).toEqual([]);
    });

    test("is published with its id, the endpoint and the template name in an SSM String parameter", () => {
      const [parameter] = values("aws_ssm_parameter");
      expect(parameter).toMatchObject({ name: "/shf-dev/public/claim-identity", type: "String", tier: "Standard" });
      expect(parameter.insecure_value).toBe(
        `\${jsonencode({"certificatePem" = aws_iot_certificate.claim-certificate.certificate_pem, "certificateId" = aws_iot_certificate.claim-certificate.id, ` +
          `"endpoint" = "${iotDataEndpoint}", "templateName" = aws_iot_provisioning_template.provisioning-template.name})}`,
      );
    });
  });

  describe("rotation template", () => {
    const rotation = () => values("aws_iot_provisioning_template").find((t) => t.name === "shf-dev-pi-rotation")!;
    const body = () => JSON.parse(rotation().template_body);

    test("is an enabled template run by the provisioning role with the same hook", () => {
      const hook = values("aws_iot_provisioning_template").find((t) => t.name === "shf-dev-pi-provisioning")!.pre_provisioning_hook;
      expect(rotation()).toMatchObject({ enabled: true, type: "FLEET_PROVISIONING", provisioning_role_arn: iotServiceRoles.provisioning.roleArn });
      expect(rotation().pre_provisioning_hook).toEqual(hook);
    });

    test("takes only the serial from the device and leaves the thing's type, groups and attributes alone", () => {
      expect(Object.keys(body().Parameters)).toEqual(["SerialNumber", "AWS::IoT::Certificate::Id"]);
      expect(body().Resources.thing).toEqual({
        Type: "AWS::IoT::Thing",
        OverrideSettings: { AttributePayload: "DO_NOTHING", ThingTypeName: "DO_NOTHING", ThingGroups: "DO_NOTHING" },
        Properties: { ThingName: { Ref: "SerialNumber" } },
      });
    });

    test("activates the new certificate and attaches the device policy; body is the exported rotationTemplateBody", () => {
      expect(body().Resources.certificate.Properties).toEqual({ CertificateId: { Ref: "AWS::IoT::Certificate::Id" }, Status: "Active" });
      expect(body().Resources.policy.Properties).toEqual({ PolicyName: "shf-dev-device" });
      expect(body()).toEqual(rotationTemplateBody("shf-dev-device", "shf_dev_telemetry_store"));
    });

    test("tells the device the same DeviceConfiguration as the provisioning template, so a Pi provisioned before it named the store rule learns it when it rotates", () => {
      expect(body().DeviceConfiguration).toEqual({ TelemetryRuleName: "shf_dev_telemetry_store" });
      expect(body().DeviceConfiguration).toEqual(provisioningTemplateBody("shf-dev-", "shf-dev-device", "shf_dev_telemetry_store").DeviceConfiguration);
    });
  });

  test("every log group has the configured retention", () => {
    for (const g of values("aws_cloudwatch_log_group")) expect(g.retention_in_days).toBe(14);
  });

  test("no IAM statement allows a wildcard action", () => {
    expect(wildcardActions(policyStatements(stack))).toEqual([]);
  });

  test("every output has a description", () => {
    for (const output of Object.values(stack.tf.output ?? {})) expect(output.description).toEqual(expect.any(String));
  });
});
