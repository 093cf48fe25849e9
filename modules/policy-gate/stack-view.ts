/**
 * Read-only view of one synthesized stack (its Terraform JSON, tokens resolved) for the policy
 * gate's rules: resources by type with their Terraform addresses, references between them, and IAM
 * documents resolved from `aws_iam_policy_document` data sources or literal JSON.
 */
import { SynthStatement } from "./iam-eval";

export type Body = Record<string, unknown>;
type Block = Record<string, Record<string, Body>>;

export interface TerraformJson {
  readonly resource?: Block;
  readonly data?: Block;
}

export interface Element {
  /** Terraform address: `aws_s3_bucket.name`, or `data.aws_iam_policy_document.name`. */
  readonly address: string;
  readonly type: string;
  readonly name: string;
  readonly body: Body;
  /** The stack that holds it. */
  readonly stack: string;
}

/** A statement as the rules see it: `aws_iam_policy_document`'s shape, plus principals. */
export interface Statement extends SynthStatement {
  readonly principals?: readonly { readonly type: string; readonly identifiers: readonly string[] }[];
}

export class StackView {
  /**
   * @param others the other stacks of the same app, for relations that cross stacks (an IoT rule in
   * one stack invoking a function of another by ARN)
   */
  constructor(
    readonly stack: string,
    readonly tf: TerraformJson,
    private readonly others: () => readonly StackView[] = () => [],
  ) {}

  resources(type: string): Element[] {
    return Object.entries(this.tf.resource?.[type] ?? {}).map(([name, body]) => ({ address: `${type}.${name}`, type, name, body, stack: this.stack }));
  }

  data(type: string): Element[] {
    return Object.entries(this.tf.data?.[type] ?? {}).map(([name, body]) => ({ address: `data.${type}.${name}`, type, name, body, stack: this.stack }));
  }

  private appViews?: readonly StackView[];

  /** This stack, then every other stack of the app (looked up once per view: a view is a snapshot, and finding the stacks walks the whole tree). */
  app(): readonly StackView[] {
    this.appViews ??= [this, ...this.others().filter((v) => v.stack !== this.stack)];
    return this.appViews;
  }

  /** Every resource of the stack, each type. */
  allResources(): Element[] {
    return Object.keys(this.tf.resource ?? {}).flatMap((type) => this.resources(type));
  }

  /** Resources of `type` whose `attribute` refers to `target` (`${type.name.x}`), or equals one of `literals`. */
  referencing(type: string, attribute: string, target: Element, literals: readonly unknown[] = []): Element[] {
    return this.resources(type).filter((e) => refersTo(e.body[attribute], target) || literals.some((l) => l !== undefined && e.body[attribute] === l));
  }

  /**
   * The statements of an IAM document given as a policy attribute: a reference to an
   * `aws_iam_policy_document` data source of this stack, or literal JSON. Undefined when it cannot
   * be resolved offline (a reference to something else).
   */
  statements(policy: unknown): Statement[] | undefined {
    if (typeof policy !== "string") return undefined;
    const ref = /^\$\{data\.aws_iam_policy_document\.([^.}]+)\.json\}$/.exec(policy);
    if (ref) {
      const doc = this.tf.data?.aws_iam_policy_document?.[ref[1]];
      return doc ? documentStatements(doc) : undefined;
    }
    try {
      return jsonStatements(JSON.parse(policy));
    } catch {
      return undefined;
    }
  }
}

/** True when a value refers to an attribute of `target` (`${aws_x.name.attr}`), possibly inside a longer expression. */
export function refersTo(value: unknown, target: Element): boolean {
  if (typeof value !== "string" || !value.includes("${")) return false;
  return new RegExp(`(^|[^A-Za-z0-9_.-])${escape(target.address)}\\.`).test(value);
}

/** Statements of an `aws_iam_policy_document` data source body (`source_policy_documents` is not followed: the app does not use it). */
export function documentStatements(doc: Body): Statement[] {
  return ((doc.statement as Statement[] | undefined) ?? []).map((s) => ({ ...s, effect: s.effect ?? "Allow" }));
}

const list = (v: unknown): string[] | undefined => (v === undefined ? undefined : Array.isArray(v) ? v.map(String) : [String(v)]);

/** A literal IAM JSON policy to the data source's statement shape. */
export function jsonStatements(policy: unknown): Statement[] {
  const raw = (policy as { Statement?: unknown }).Statement;
  const statements = Array.isArray(raw) ? raw : raw ? [raw] : [];
  return statements.map((s: Record<string, unknown>) => {
    const conditions = Object.entries((s.Condition as Record<string, Record<string, unknown>>) ?? {}).flatMap(([test, keys]) =>
      Object.entries(keys).map(([variable, values]) => ({ test, variable, values: list(values) ?? [] })),
    );
    const principal = s.Principal;
    const principals =
      principal === "*"
        ? [{ type: "*", identifiers: ["*"] }]
        : Object.entries((principal as Record<string, unknown>) ?? {}).map(([type, ids]) => ({ type, identifiers: list(ids) ?? [] }));
    return {
      sid: s.Sid as string | undefined,
      effect: (s.Effect as string) ?? "Allow",
      actions: list(s.Action),
      not_actions: list(s.NotAction),
      resources: list(s.Resource),
      not_resources: list(s.NotResource),
      condition: conditions.length ? conditions : undefined,
      principals: principals.length ? principals : undefined,
    };
  });
}

/** Does a function body's `function_name` / address match a reference or ARN given elsewhere? */
export function namesFunction(value: unknown, fn: Element): boolean {
  if (typeof value !== "string") return false;
  if (refersTo(value, fn)) return true;
  const name = fn.body.function_name;
  if (typeof name !== "string" || name.includes("${")) return false;
  return value === name || new RegExp(`^arn:aws[a-z-]*:lambda:[^:]*:[^:]*:function:${escape(name)}(:[^:]+)?$`).test(value);
}

export function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
