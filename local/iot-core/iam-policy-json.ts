/**
 * The JSON that Terraform's `aws_iam_policy_document` data source (hashicorp/aws 5.100.0) produces from
 * its synthesized arguments, computed locally so the twin sees exactly the policy AWS IoT receives.
 *
 * What the provider does, and this function with it:
 * - `Version` defaults to `2012-10-17`; with that version `&{` becomes `${` in resources, principals and
 *   condition values (how `modules/iot-policy.ts` writes `${iot:Connection.Thing.ThingName}` without
 *   Terraform interpolating it);
 * - a one-element `actions`/`resources` list becomes a plain string, longer lists are sorted in reverse
 *   (the provider's `policyDecodeConfigStringList`); condition values keep their order and a single
 *   value becomes a string; `Sid` is left out when empty; `Effect` defaults to `Allow`.
 * `source_policy_documents` / `override_policy_documents` are not needed by our IoT policies and refused.
 */

/** One `data.aws_iam_policy_document` block as cdktf synthesizes it (snake_case arguments). */
export interface IamPolicyDocumentConfig {
  readonly version?: string;
  readonly policy_id?: string;
  readonly statement?: readonly {
    readonly sid?: string;
    readonly effect?: string;
    readonly actions?: readonly string[];
    readonly not_actions?: readonly string[];
    readonly resources?: readonly string[];
    readonly not_resources?: readonly string[];
    readonly principals?: readonly { readonly type: string; readonly identifiers: readonly string[] }[];
    readonly condition?: readonly { readonly test: string; readonly variable: string; readonly values: readonly string[] }[];
  }[];
  readonly source_policy_documents?: unknown;
  readonly override_policy_documents?: unknown;
}

export function renderIamPolicyDocument(config: IamPolicyDocumentConfig): string {
  if (config.source_policy_documents || config.override_policy_documents) {
    throw new Error("aws_iam_policy_document with source/override documents is not supported by the twin's renderer");
  }
  const version = config.version ?? "2012-10-17";
  const vars = (values: readonly string[]) => (version === "2012-10-17" ? values.map((v) => v.split("&{").join("${")) : [...values]);
  const statements = (config.statement ?? []).map((s) => {
    const out: Record<string, unknown> = {};
    if (s.sid) out.Sid = s.sid;
    out.Effect = s.effect ?? "Allow";
    if (s.actions?.length) out.Action = decodeList(s.actions);
    if (s.not_actions?.length) out.NotAction = decodeList(s.not_actions);
    if (s.resources?.length) out.Resource = decodeList(vars(s.resources));
    if (s.not_resources?.length) out.NotResource = decodeList(vars(s.not_resources));
    if (s.principals?.length) out.Principal = principals(s.principals, vars);
    if (s.condition?.length) out.Condition = conditions(s.condition, vars);
    return out;
  });
  const doc: Record<string, unknown> = { Version: version };
  if (config.policy_id) doc.Id = config.policy_id;
  doc.Statement = statements;
  // The provider indents its output with two spaces (Go json.MarshalIndent).
  return JSON.stringify(doc, null, 2);
}

function decodeList(values: readonly string[]): string | string[] {
  if (values.length === 1) return values[0]!;
  // Go's sort.Reverse(sort.StringSlice): byte-wise descending.
  return [...values].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
}

function principals(list: NonNullable<IamPolicyDocumentConfig["statement"]>[number]["principals"] & object, vars: (v: readonly string[]) => string[]): unknown {
  if (list.length === 1 && list[0]!.type === "*" && list[0]!.identifiers.length === 1 && list[0]!.identifiers[0] === "*") return "*";
  const raw: Record<string, string | string[]> = {};
  for (const p of list) {
    const ids = decodeList(vars(p.identifiers));
    const existing = raw[p.type];
    raw[p.type] = existing === undefined ? ids : [...[existing].flat(), ...[ids].flat()];
  }
  return sortKeys(raw);
}

function conditions(
  list: NonNullable<NonNullable<IamPolicyDocumentConfig["statement"]>[number]["condition"]>,
  vars: (v: readonly string[]) => string[],
): unknown {
  const raw: Record<string, Record<string, string[]>> = {};
  for (const c of list) {
    const block = (raw[c.test] ??= {});
    block[c.variable] = [...(block[c.variable] ?? []), ...vars(c.values)];
  }
  // Go marshals maps with sorted keys; one value is flattened to a string, as IAM writes it.
  return sortKeys(
    Object.fromEntries(
      Object.entries(raw).map(([test, block]) => [test, sortKeys(Object.fromEntries(Object.entries(block).map(([k, v]) => [k, v.length === 1 ? v[0]! : v])))]),
    ),
  );
}

function sortKeys<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
