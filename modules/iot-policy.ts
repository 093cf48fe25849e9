import { Construct } from "constructs";
import { IotPolicy as IotPolicyResource } from "@cdktf/provider-aws/lib/iot-policy";
import { PolicyStatement, policyDocument } from "./policy-document";

/**
 * The connected thing's name as an IoT policy variable. Written `&{...}` because the document is
 * built by `aws_iam_policy_document`, which turns `&{` into `${` in its JSON (a literal `${` would
 * be a Terraform interpolation). In the policy AWS IoT receives, it reads
 * `${iot:Connection.Thing.ThingName}`.
 */
export const THING_NAME = "&{iot:Connection.Thing.ThingName}";

/** Builds `arn:aws:iot:<region>:<account>:<resource>`. */
export type IotArn = (resource: string) => string;

export interface IotPolicyProps {
  readonly policyName: string;
  readonly statements: readonly PolicyStatement[];
}

/**
 * An AWS IoT Core policy whose document goes through policyDocument() like every IAM document
 * (so `iot:*` on everything is refused at synth).
 *
 * @example new IotPolicy(this, "device-policy", { policyName: names.devicePolicy, statements: devicePolicyStatements(iotArn, names.rotationTemplate, names.telemetryStoreRule) })
 */
export class IotPolicy extends Construct {
  readonly policy: IotPolicyResource;
  readonly policyName: string;
  readonly policyArn: string;

  constructor(scope: Construct, id: string, props: IotPolicyProps) {
    super(scope, id);
    if (!/^[\w+=,.@-]{1,128}$/.test(props.policyName)) {
      throw new Error(`IotPolicy "${id}": policyName "${props.policyName}" must be 1-128 characters [A-Za-z0-9_+=,.@-]`);
    }
    for (const s of props.statements) {
      if (s.actions.some((a) => !a.startsWith("iot:") && !a.startsWith("greengrass:"))) {
        throw new Error(
          `IotPolicy "${id}": statement ${s.sid ?? JSON.stringify(s.actions)} has non-IoT actions; an IoT policy grants only iot:* data-plane actions`,
        );
      }
    }
    const document = policyDocument(this, "document", props.statements);
    this.policy = new IotPolicyResource(this, "policy", { name: props.policyName, policy: document.json });
    this.policyName = this.policy.name;
    this.policyArn = this.policy.arn;
  }
}

/**
 * The request and answer topics of certificate rotation (JSON only): CreateCertificateFromCsr and the
 * rotation template's RegisterThing. Their names are fixed by AWS and carry no client or thing part, so
 * no policy variable can narrow them; AWS answers on the requesting connection only (Developer Guide,
 * "Device provisioning MQTT API"), and the rotation hook checks the caller's certificate.
 */
export function rotationTopics(rotationTemplateName: string): string[] {
  return ["$aws/certificates/create-from-csr/json", `$aws/provisioning-templates/${rotationTemplateName}/provision/json`];
}

/**
 * The Basic Ingest topic of a device's telemetry: `$aws/rules/<rule>/devices/<thing>/telemetry` reaches
 * exactly rule `<rule>` (no broker, no messaging charge, nobody can subscribe to it), and the rule's SQL
 * sees `devices/<thing>/telemetry` (topic() never includes the `$aws/rules/<rule>` prefix).
 * https://docs.aws.amazon.com/iot/latest/developerguide/iot-basic-ingest.html
 */
export function basicIngestTelemetryTopic(ruleName: string, thingName: string): string {
  return `$aws/rules/${ruleName}/devices/${thingName}/telemetry`;
}

/**
 * A provisioned device: connects only as its own thing (client id = thing name = serial, with its
 * certificate attached to that thing), and touches only its own topics, jobs and shadow, plus the
 * rotation topics of `rotationTemplateName` (a new certificate from its own CSR) and its own Basic Ingest
 * telemetry topic of rule `telemetryRuleName` (exactly that rule, no wildcard).
 */
export function devicePolicyStatements(iotArn: IotArn, rotationTemplateName: string, telemetryRuleName: string): PolicyStatement[] {
  const own = (kind: "topic" | "topicfilter", path: string) => iotArn(`${kind}/${path}`);
  const jobs = `$aws/things/${THING_NAME}/jobs/*`;
  const shadow = `$aws/things/${THING_NAME}/shadow/*`;
  const rotation = rotationTopics(rotationTemplateName);
  const answers = rotation.flatMap((t) => [`${t}/accepted`, `${t}/rejected`]);
  return [
    {
      actions: ["iot:Connect"],
      resources: [iotArn(`client/${THING_NAME}`)],
      conditions: [{ test: "Bool", variable: "iot:Connection.Thing.IsAttached", values: ["true"] }],
    },
    {
      actions: ["iot:Publish"],
      resources: [
        own("topic", `devices/${THING_NAME}/responses`),
        own("topic", `devices/${THING_NAME}/errors`),
        own("topic", basicIngestTelemetryTopic(telemetryRuleName, THING_NAME)),
        // Kept while firmware rolls out: Pis not yet updated (or provisioned before the template said
        // which rule to use) still publish here, and the store rule's FROM 'devices/+/telemetry' stores them.
        own("topic", `devices/${THING_NAME}/telemetry`),
        own("topic", jobs),
        own("topic", shadow),
        ...rotation.map((t) => own("topic", t)),
      ],
    },
    {
      actions: ["iot:Subscribe"],
      resources: [
        own("topicfilter", `devices/${THING_NAME}/commands`),
        own("topicfilter", jobs),
        own("topicfilter", shadow),
        ...answers.map((t) => own("topicfilter", t)),
      ],
    },
    {
      actions: ["iot:Receive"],
      resources: [own("topic", `devices/${THING_NAME}/commands`), own("topic", jobs), own("topic", shadow), ...answers.map((t) => own("topic", t))],
    },
  ];
}

/**
 * The controller: connects as its own thing, publishes commands to any device, and reads every
 * device's responses, errors and telemetry (`*` in a policy also matches the `+` of a filter).
 */
export function controllerPolicyStatements(iotArn: IotArn, controllerThing: string): PolicyStatement[] {
  const fromDevices = ["responses", "errors", "telemetry"];
  return [
    {
      actions: ["iot:Connect"],
      resources: [iotArn(`client/${controllerThing}`)],
      conditions: [{ test: "Bool", variable: "iot:Connection.Thing.IsAttached", values: ["true"] }],
    },
    { actions: ["iot:Publish"], resources: [iotArn("topic/devices/*/commands")] },
    { actions: ["iot:Subscribe"], resources: fromDevices.map((t) => iotArn(`topicfilter/devices/*/${t}`)) },
    { actions: ["iot:Receive"], resources: fromDevices.map((t) => iotArn(`topic/devices/*/${t}`)) },
  ];
}

/** Client id prefix of devices provisioning with the claim certificate. */
export const CLAIM_CLIENT_PREFIX = "provision-";

/**
 * The claim (bootstrap) certificate shared by devices in manufacturing: it can only exchange a CSR
 * for a certificate and run this one provisioning template. Nothing else, not even its own topics.
 */
export function claimPolicyStatements(iotArn: IotArn, templateName: string): PolicyStatement[] {
  const topics = ["$aws/certificates/create-from-csr/*", `$aws/provisioning-templates/${templateName}/provision/*`];
  return [
    // Before it has an identity a device connects as `provision-<serial>` (device/provision.ts), never
    // as a bare serial, so the claim certificate cannot take over a provisioned device's session.
    { actions: ["iot:Connect"], resources: [iotArn(`client/${CLAIM_CLIENT_PREFIX}*`)] },
    { actions: ["iot:Publish", "iot:Receive"], resources: topics.map((t) => iotArn(`topic/${t}`)) },
    { actions: ["iot:Subscribe"], resources: topics.map((t) => iotArn(`topicfilter/${t}`)) },
  ];
}
