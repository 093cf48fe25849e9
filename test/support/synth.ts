import { Testing } from "cdktf";
import { Construct } from "constructs";
import { loadConfig } from "../../config";
import { FleetStackProps } from "../../stacks/shared/fleet-stack";

export interface SynthesizedStack {
  readonly json: string;
  readonly tf: {
    resource?: Record<string, Record<string, Record<string, unknown>>>;
    data?: Record<string, Record<string, Record<string, unknown>>>;
    output?: Record<string, { value: unknown; description?: string }>;
    terraform?: Record<string, unknown>;
    provider?: Record<string, unknown[]>;
  };
}

/** Synthesizes one stack built by `build` in a test app; returns the JSON text and the parsed document. */
export function synthStack(build: (app: Construct, props: FleetStackProps) => unknown, props: Partial<FleetStackProps> = {}): SynthesizedStack {
  const app = Testing.app();
  const stack = build(app, { config: loadConfig("dev"), ...props }) as Parameters<typeof Testing.synth>[0];
  const json = Testing.synth(stack);
  return { json, tf: JSON.parse(json) };
}

/** All resources of one Terraform type, by construct-derived name. */
export function resourcesOf(stack: SynthesizedStack, type: string): Record<string, Record<string, unknown>> {
  return stack.tf.resource?.[type] ?? {};
}

/** Every IAM policy document statement in the stack (from aws_iam_policy_document data sources). */
export function policyStatements(stack: SynthesizedStack): { actions: string[]; resources?: string[]; effect?: string; condition?: unknown[] }[] {
  const docs = stack.tf.data?.aws_iam_policy_document ?? {};
  return Object.values(docs).flatMap((doc) => (doc.statement as { actions: string[]; resources?: string[]; effect?: string }[]) ?? []);
}
