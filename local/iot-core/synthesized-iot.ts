/**
 * What the stacks tell AWS IoT, read from the synthesized Terraform (never a hand-kept copy): every
 * `aws_iot_policy` with its document (the `aws_iam_policy_document` it references, rendered as the
 * provider renders it), the fleet provisioning templates, thing types and groups, the things and
 * certificates the stacks create, and which policies and things the stacks attach to those certificates.
 *
 * ```ts
 * const iot = synthesizeIot("dev");            // offline synth of main.ts's defineStacks
 * iot.policies.get(names.devicePolicy);        // '{"Version":"2012-10-17","Statement":[...]}'
 * ```
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { App, TerraformStack, Testing } from "cdktf";
import { loadConfig } from "../../config";
import type { EnvironmentConfig } from "../../config/types";
import { defineStacks } from "../../main";
import { mergeRules, rulesOfStack, type SynthesizedTopicRules } from "../rules/synthesized-rules";
import { streamMappingsOfStack, type SynthesizedStreamMapping } from "../streams/synthesized-mappings";
import { IamPolicyDocumentConfig, renderIamPolicyDocument } from "./iam-policy-json";

/** One stack's Terraform JSON (the parts this module reads). */
export interface TerraformJson {
  readonly resource?: Readonly<Record<string, Readonly<Record<string, Record<string, unknown>>>>>;
  readonly data?: Readonly<Record<string, Readonly<Record<string, Record<string, unknown>>>>>;
}

export interface SynthesizedProvisioningTemplate {
  readonly templateName: string;
  /** The `template_body` JSON, as AWS stores it. */
  readonly templateBody: string;
  readonly enabled: boolean;
  /** Whether the template names a pre-provisioning hook (the twin calls the real handler). */
  readonly hasPreProvisioningHook: boolean;
}

/** An `aws_iot_certificate` the stacks create (the claim and controller certificates). */
export interface SynthesizedCertificate {
  /** Stack id and construct name, e.g. `fleet/claim-certificate`. */
  readonly key: string;
  readonly active: boolean;
  readonly policyNames: readonly string[];
  readonly thingNames: readonly string[];
}

export interface SynthesizedIot {
  readonly region: string;
  readonly accountId: string;
  /** Policy name → policy document JSON. */
  readonly policies: ReadonlyMap<string, string>;
  readonly provisioningTemplates: ReadonlyMap<string, SynthesizedProvisioningTemplate>;
  readonly thingTypes: readonly string[];
  readonly thingGroups: readonly string[];
  /** Things the stacks create (e.g. the controller), by name. */
  readonly things: readonly string[];
  readonly certificates: readonly SynthesizedCertificate[];
  /** The topic rules and what their actions target (`local/rules/synthesized-rules.ts`). */
  readonly topicRules: SynthesizedTopicRules;
  /** The event source mappings on DynamoDB streams (`local/streams/synthesized-mappings.ts`). */
  readonly streamMappings: readonly SynthesizedStreamMapping[];
}

/**
 * Synthesizes `defineStacks` offline (`IOT_OFFLINE=1` semantics) for an environment and reads its IoT
 * resources. `config` replaces the environment's settings (e.g. a test's other thresholds).
 */
export function synthesizeIot(envName: string = process.env.IOT_ENV ?? "dev", config: EnvironmentConfig = loadConfig(envName)): SynthesizedIot {
  // Nothing is written to the outdir (Testing.synth renders in memory); it is removed all the same.
  const outdir = mkdtempSync(path.join(tmpdir(), "shf-iot-synth-"));
  try {
    const app = Testing.app({ outdir });
    defineStacks(app as App, { config, offline: true });
    const stacks: Record<string, TerraformJson> = {};
    for (const child of app.node.children) {
      if (child instanceof TerraformStack) stacks[child.node.id] = JSON.parse(Testing.synth(child)) as TerraformJson;
    }
    return iotFromTerraform(stacks, { region: config.region, accountId: config.accountId });
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** Reads an already synthesized `cdktf.out` (e.g. from `IOT_OFFLINE=1 npx cdktf synth`). */
export function iotFromCdktfOut(outdir: string, where: { region: string; accountId: string }): SynthesizedIot {
  const stacksDir = path.join(outdir, "stacks");
  const stacks: Record<string, TerraformJson> = {};
  for (const id of readdirSync(stacksDir)) {
    stacks[id] = JSON.parse(readFileSync(path.join(stacksDir, id, "cdk.tf.json"), "utf8")) as TerraformJson;
  }
  return iotFromTerraform(stacks, where);
}

/** The IoT resources of a set of synthesized stacks, by stack id. */
export function iotFromTerraform(stacks: Readonly<Record<string, TerraformJson>>, where: { region: string; accountId: string }): SynthesizedIot {
  const policies = new Map<string, string>();
  const templates = new Map<string, SynthesizedProvisioningTemplate>();
  const thingTypes: string[] = [];
  const thingGroups: string[] = [];
  const things: string[] = [];
  const certificates = new Map<string, { active: boolean; policyNames: string[]; thingNames: string[] }>();
  const rules: ReturnType<typeof rulesOfStack>[] = [];
  const streamMappings: SynthesizedStreamMapping[] = [];

  for (const [stackId, tf] of Object.entries(stacks)) {
    const resolve = referenceResolver(stackId, tf);
    rules.push(rulesOfStack(stackId, tf.resource, resolve));
    streamMappings.push(...streamMappingsOfStack(stackId, tf.resource, resolve));
    const resources = (type: string) => Object.entries(tf.resource?.[type] ?? {});
    for (const [, r] of resources("aws_iot_policy")) {
      const name = resolve(r.name, "aws_iot_policy.name");
      policies.set(name, resolve(r.policy, "aws_iot_policy.policy"));
    }
    for (const [, r] of resources("aws_iot_provisioning_template")) {
      const templateName = resolve(r.name, "aws_iot_provisioning_template.name");
      templates.set(templateName, {
        templateName,
        templateBody: resolve(r.template_body, "aws_iot_provisioning_template.template_body"),
        enabled: r.enabled !== false,
        hasPreProvisioningHook: r.pre_provisioning_hook !== undefined,
      });
    }
    for (const [, r] of resources("aws_iot_thing_type")) thingTypes.push(resolve(r.name, "aws_iot_thing_type.name"));
    for (const [, r] of resources("aws_iot_thing_group")) thingGroups.push(resolve(r.name, "aws_iot_thing_group.name"));
    for (const [, r] of resources("aws_iot_thing")) things.push(resolve(r.name, "aws_iot_thing.name"));
    for (const [name, r] of resources("aws_iot_certificate")) {
      certificates.set(`${stackId}/${name}`, { active: r.active === true, policyNames: [], thingNames: [] });
    }
    for (const [, r] of resources("aws_iot_policy_attachment")) {
      certificateOf(certificates, stackId, r.target).policyNames.push(resolve(r.policy, "aws_iot_policy_attachment.policy"));
    }
    for (const [, r] of resources("aws_iot_thing_principal_attachment")) {
      certificateOf(certificates, stackId, r.principal).thingNames.push(resolve(r.thing, "aws_iot_thing_principal_attachment.thing"));
    }
  }
  return {
    ...where,
    policies,
    provisioningTemplates: templates,
    thingTypes,
    thingGroups,
    things,
    certificates: [...certificates].map(([key, c]) => ({ key, ...c })),
    topicRules: mergeRules(rules),
    streamMappings,
  };
}

const REFERENCE = /^\$\{((?:data\.)?[a-z0-9_]+)\.([^.}]+)\.([a-z_]+)\}$/;

/**
 * Resolves a synthesized value: a literal string, or one whole `${type.name.attribute}` reference to a
 * resource's argument or to a policy document's `json`. Anything else (an interpolation Terraform would
 * compute at apply time) is an error that names the argument.
 */
function referenceResolver(stackId: string, tf: TerraformJson) {
  const resolve = (value: unknown, what: string): string => {
    if (typeof value !== "string") throw new Error(`${stackId}: ${what} is not a string (${JSON.stringify(value)})`);
    if (!value.includes("${")) return value;
    const m = REFERENCE.exec(value);
    if (!m) throw new Error(`${stackId}: ${what} = ${value} is not a reference the twin can resolve`);
    const [, type, name, attribute] = m;
    if (type === "data.aws_iam_policy_document" && attribute === "json") {
      const doc = tf.data?.aws_iam_policy_document?.[name!];
      if (!doc) throw new Error(`${stackId}: ${what} references missing ${type}.${name}`);
      return renderIamPolicyDocument(doc as IamPolicyDocumentConfig);
    }
    const target = tf.resource?.[type!]?.[name!];
    if (!target || !(attribute! in target)) throw new Error(`${stackId}: ${what} = ${value} cannot be resolved from the synthesized arguments`);
    return resolve(target[attribute!], `${type}.${name}.${attribute}`);
  };
  return resolve;
}

function certificateOf(certificates: Map<string, { active: boolean; policyNames: string[]; thingNames: string[] }>, stackId: string, reference: unknown) {
  const m = typeof reference === "string" ? /^\$\{aws_iot_certificate\.([^.}]+)\.arn\}$/.exec(reference) : null;
  const certificate = m ? certificates.get(`${stackId}/${m[1]}`) : undefined;
  if (!certificate) throw new Error(`${stackId}: attachment target ${JSON.stringify(reference)} is not a certificate of this stack`);
  return certificate;
}
