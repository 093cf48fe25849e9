import { Construct } from "constructs";
import { TerraformOutput } from "cdktf";
import { IotProvisioningTemplate } from "@cdktf/provider-aws/lib/iot-provisioning-template";
import { FleetStack, FleetStackProps } from "./shared/fleet-stack";
import { TableRef, TopicRef } from "../modules/refs";
import { IotServiceRoles } from "./shared/refs";
import { FunctionAlarms, LogPatternAlarm } from "../modules/alarms";
import { ContractFunction } from "../modules/contract-function";
import { CsrIdentity } from "./shared/csr-identity";
import { identityLocations, loadIdentityCsr } from "./shared/identity";
import { IotPolicy, claimPolicyStatements } from "../modules/iot-policy";
import { FleetTable } from "../modules/fleet-table";
import { HOOK_DENIAL_LOG_PATTERN, PROVISIONING_HOOK } from "../functions/provisioning-hook/contract";
import { TELEMETRY_RULE_KEY } from "../device/device-configuration";

export interface FleetProvisioningStackProps extends FleetStackProps {
  /** Roles AWS IoT assumes, from the `roles` stack (the provisioning role registers devices). */
  readonly iotServiceRoles: IotServiceRoles;
  /** Device registry, from the `iot` stack. */
  readonly registryTable: TableRef;
  /** Where CloudWatch alarms notify, from the `iot` stack. */
  readonly alarmTopic: TopicRef;
  /** IoT policy every provisioned device's certificate gets, from the `iot` stack. */
  readonly devicePolicyName: string;
  /** The account's `iot:Data-ATS` endpoint, published with the claim certificate. */
  readonly iotDataEndpoint: string;
}

/**
 * Fleet provisioning by claim: a device starts with the shared claim certificate, sends a CSR, and
 * runs the template with its `SerialNumber` and `DeviceType`. The pre-provisioning hook allows only a
 * registered serial (once; see docs/contracts.md); the template then creates the thing (name = serial,
 * type and group from the device type), activates the certificate and attaches the device policy.
 *
 * The registry table itself lives in the `iot` stack (see IotStack); this stack receives it.
 */
export class FleetProvisioningStack extends FleetStack {
  readonly templateName: string;
  readonly hookFunctionName: string;
  readonly rotationTemplateName: string;

  constructor(scope: Construct, id: string, props: FleetProvisioningStackProps) {
    super(scope, id, props);
    const { config, names } = this;
    const iotArn = (resource: string) => this.arn("iot", resource);
    const templateArn = iotArn(`provisioningtemplate/${names.provisioningTemplate}`);
    const rotationTemplateArn = iotArn(`provisioningtemplate/${names.rotationTemplate}`);

    // --- Pre-provisioning hook.
    // Timeout and memory from the contract (AWS IoT gives up after 5 s).
    const hook = new ContractFunction(this, "provisioning-hook", {
      contract: PROVISIONING_HOOK,
      functionName: names.provisioningHookFunction,
      description: "Fleet provisioning pre-provisioning hook: allows only registered, unclaimed serial numbers",
      logRetentionDays: config.logRetentionDays,
      settings: {
        environment: config.name,
        allowedDeviceTypes: config.deviceTypes,
        leaseSeconds: config.provisioning.leaseSeconds,
        namePrefix: config.namePrefix,
        rotationTemplateName: names.rotationTemplate,
      },
      tables: {
        registryTableName: { table: FleetTable.fromTableRef(props.registryTable, "registry-table"), actions: ["dynamodb:GetItem", "dynamodb:UpdateItem"] },
      },
    });
    // Names the template by its ARN (known from its name), so the permission exists before the template.
    const invokeByTemplate = hook.allowInvoke("iot-provisioning-template", {
      principal: "iot.amazonaws.com",
      sourceArn: templateArn,
      sourceAccount: config.accountId,
    });
    const invokeByRotation = hook.allowInvoke("iot-rotation-template", {
      principal: "iot.amazonaws.com",
      sourceArn: rotationTemplateArn,
      sourceAccount: config.accountId,
    });
    new FunctionAlarms(this, "provisioning-hook-alarms", {
      function: hook,
      topic: props.alarmTopic,
      // Near AWS's 5 s limit, past which the device is refused whatever the hook decides.
      durationThresholdMs: 4000,
      // The hook never fails (it denies and logs at error level), so Errors alone would never fire.
      errorLog: { logGroupName: hook.logGroupName, metricName: names.functionErrorLogs },
    });
    const { threshold, periodMinutes } = config.provisioning.denialAlarm;
    new LogPatternAlarm(this, "provisioning-denials", {
      logGroupName: hook.logGroupName,
      filterPattern: HOOK_DENIAL_LOG_PATTERN,
      name: names.provisioningDenials,
      description:
        `The pre-provisioning hook denied ${threshold} or more requests in ${periodMinutes} minutes: a leaked claim ` +
        "certificate being tried against serials looks like this (see the hook's log lines for reasons and serials)",
      threshold,
      periodMinutes,
      topic: props.alarmTopic,
    });

    // --- The template.
    const template = new IotProvisioningTemplate(this, "provisioning-template", {
      name: names.provisioningTemplate,
      description: "Raspberry Pi fleet provisioning by claim: thing = serial number, type and group from the device type",
      enabled: true,
      type: "FLEET_PROVISIONING",
      provisioningRoleArn: props.iotServiceRoles.provisioning.roleArn,
      preProvisioningHook: { targetArn: hook.functionArn, payloadVersion: "2020-04-01" },
      templateBody: JSON.stringify(provisioningTemplateBody(names.deviceTypeThingPrefix, props.devicePolicyName, names.telemetryStoreRule)),
      dependsOn: [invokeByTemplate],
    });

    // --- Certificate rotation: a provisioned Pi runs this template over its own connection (the device
    // policy allows its topics); the same hook, in rotation mode, allows only the row's current certificate.
    const rotation = new IotProvisioningTemplate(this, "rotation-template", {
      name: names.rotationTemplate,
      description: "Raspberry Pi certificate rotation: the thing's current certificate gets a successor from the Pi's own CSR",
      enabled: true,
      type: "FLEET_PROVISIONING",
      provisioningRoleArn: props.iotServiceRoles.provisioning.roleArn,
      preProvisioningHook: { targetArn: hook.functionArn, payloadVersion: "2020-04-01" },
      templateBody: JSON.stringify(rotationTemplateBody(props.devicePolicyName, names.telemetryStoreRule)),
      dependsOn: [invokeByRotation],
    });

    // --- The claim certificate, from the committed CSR; its key is only in Secrets Manager (written by
    // `npm run identity`), the public parts are published in SSM for whoever prepares SD cards.
    const claimPolicy = new IotPolicy(this, "claim-policy", {
      policyName: names.claimPolicy,
      statements: claimPolicyStatements(iotArn, names.provisioningTemplate),
    });
    const claim = new CsrIdentity(this, "claim", {
      kind: "claim",
      csrPem: loadIdentityCsr({ envName: config.name, kind: "claim", offline: this.offline, root: props.identityRoot }).pem,
      locations: identityLocations(names, "claim"),
      endpoint: props.iotDataEndpoint,
      published: { templateName: template.name },
      adoptExistingSecret: !this.offline,
    });
    claim.attachPolicy(claimPolicy.policyName);

    this.templateName = template.name;
    this.hookFunctionName = hook.functionName;
    this.rotationTemplateName = rotation.name;

    new TerraformOutput(this, "provisioning-template-name", {
      value: template.name,
      description: "Fleet provisioning template devices run with their serial number and device type",
    });
    new TerraformOutput(this, "rotation-template-name", {
      value: rotation.name,
      description: "Provisioning template provisioned devices run to rotate their certificate",
    });
    new TerraformOutput(this, "claim-certificate-id", {
      value: claim.certificateId,
      description: "Claim certificate id (deactivate it to stop all new provisioning)",
    });
    new TerraformOutput(this, "claim-secret-arn", {
      value: claim.secretArn,
      description: "Secrets Manager secret with the claim private key only (written by npm run identity, never by Terraform)",
    });
    new TerraformOutput(this, "claim-identity-parameter", {
      value: claim.parameterName,
      description: "SSM String parameter with the claim certificate PEM and id, IoT endpoint and template name",
    });
    new TerraformOutput(this, "provisioning-hook-function-name", { value: hook.functionName, description: "Pre-provisioning hook Lambda function" });
  }
}

/**
 * The template body (AWS IoT fleet provisioning): parameters `SerialNumber` and `DeviceType` from the
 * device (the hook returns `DeviceType` normalised as its only parameter override), and
 * `AWS::IoT::Certificate::Id`, which AWS fills from the certificate the device got from its CSR.
 * `ProvisioningToken` is for the hook alone: declared with an empty default (devices without a token
 * omit it) and referenced by no resource, so it never becomes a thing attribute.
 * `DeviceConfiguration` reaches the device in RegisterThing's answer: the name of the rule its telemetry
 * goes to through Basic Ingest (device/device-configuration.ts), so the Pi never keeps its own copy.
 */
export function provisioningTemplateBody(thingPrefix: string, devicePolicyName: string, telemetryRuleName: string) {
  const perType = { "Fn::Join": ["", [thingPrefix, { Ref: "DeviceType" }]] };
  return {
    Parameters: {
      SerialNumber: { Type: "String" },
      DeviceType: { Type: "String" },
      ProvisioningToken: { Type: "String", Default: "" },
      "AWS::IoT::Certificate::Id": { Type: "String" },
    },
    Resources: {
      thing: {
        Type: "AWS::IoT::Thing",
        // Re-provisioning an existing thing: merge attributes, follow the (corrected) type, keep other groups.
        OverrideSettings: { AttributePayload: "MERGE", ThingTypeName: "REPLACE", ThingGroups: "MERGE" },
        Properties: {
          ThingName: { Ref: "SerialNumber" },
          ThingTypeName: perType,
          ThingGroups: [perType],
          AttributePayload: { serialNumber: { Ref: "SerialNumber" }, deviceType: { Ref: "DeviceType" } },
        },
      },
      certificate: {
        Type: "AWS::IoT::Certificate",
        Properties: { CertificateId: { Ref: "AWS::IoT::Certificate::Id" }, Status: "Active" },
      },
      policy: {
        Type: "AWS::IoT::Policy",
        Properties: { PolicyName: devicePolicyName },
      },
    },
    DeviceConfiguration: { [TELEMETRY_RULE_KEY]: telemetryRuleName },
  };
}

/**
 * The rotation template body: the existing thing (named by the serial; the hook allows only a
 * PROVISIONED row whose certificate is the caller's) gets the new certificate attached, activated and
 * given the device policy. The thing's type, groups and attributes are left as they are.
 * `DeviceConfiguration` is the provisioning template's, so a Pi provisioned before that template named the
 * telemetry rule learns it at its next rotation (device/rotation.ts merges it into thing.json).
 */
export function rotationTemplateBody(devicePolicyName: string, telemetryRuleName: string) {
  return {
    Parameters: {
      SerialNumber: { Type: "String" },
      "AWS::IoT::Certificate::Id": { Type: "String" },
    },
    Resources: {
      thing: {
        Type: "AWS::IoT::Thing",
        OverrideSettings: { AttributePayload: "DO_NOTHING", ThingTypeName: "DO_NOTHING", ThingGroups: "DO_NOTHING" },
        Properties: { ThingName: { Ref: "SerialNumber" } },
      },
      certificate: {
        Type: "AWS::IoT::Certificate",
        Properties: { CertificateId: { Ref: "AWS::IoT::Certificate::Id" }, Status: "Active" },
      },
      policy: {
        Type: "AWS::IoT::Policy",
        Properties: { PolicyName: devicePolicyName },
      },
    },
    DeviceConfiguration: { [TELEMETRY_RULE_KEY]: telemetryRuleName },
  };
}
