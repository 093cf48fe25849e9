/**
 * A small evaluator of IAM policy statements as synthesized by `aws_iam_policy_document`, for tests that
 * ask "may this role do X on Y?" instead of matching policy text. It follows IAM's documented rules for
 * what the app's policies use: an explicit Deny wins, otherwise an Allow is needed; `*` and `?` wildcards
 * (actions case-insensitive, resources case-sensitive); NotResource; and the condition operators below,
 * where a key missing from the request matches only the negated operators (StringNotEquals...).
 * Anything else (NotAction, unknown operators) throws, so a test never passes by ignoring a rule.
 */

export interface SynthStatement {
  readonly sid?: string;
  readonly effect?: string;
  readonly actions?: readonly string[];
  readonly resources?: readonly string[];
  readonly not_resources?: readonly string[];
  readonly not_actions?: readonly string[];
  readonly condition?: readonly { readonly test: string; readonly variable: string; readonly values: readonly string[] }[];
}

export interface IamRequest {
  readonly action: string;
  readonly resource: string;
  /** Request context keys, e.g. `{ "iam:PermissionsBoundary": "arn:..." }`. */
  readonly context?: Readonly<Record<string, string>>;
}

function glob(pattern: string, value: string, caseInsensitive: boolean): boolean {
  const escaped = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${escaped}$`, caseInsensitive ? "i" : "").test(value);
}

function conditionMatches(condition: NonNullable<SynthStatement["condition"]>[number], context: Readonly<Record<string, string>>): boolean {
  const value = context[condition.variable];
  const present = value !== undefined;
  switch (condition.test) {
    case "StringEquals":
    case "ArnEquals":
      return present && condition.values.includes(value);
    case "StringNotEquals":
    case "ArnNotEquals":
      return !present || !condition.values.includes(value);
    case "StringLike":
    case "ArnLike":
      return present && condition.values.some((v) => glob(v, value, false));
    case "StringNotLike":
    case "ArnNotLike":
      return !present || !condition.values.some((v) => glob(v, value, false));
    default:
      throw new Error(`iam-eval: condition operator ${condition.test} is not modelled`);
  }
}

function applies(statement: SynthStatement, request: IamRequest): boolean {
  if (statement.not_actions) throw new Error(`iam-eval: NotAction (statement ${statement.sid}) is not modelled`);
  if (!(statement.actions ?? []).some((a) => glob(a, request.action, true))) return false;
  if (statement.resources && !statement.resources.some((r) => glob(r, request.resource, false))) return false;
  if (statement.not_resources && statement.not_resources.some((r) => glob(r, request.resource, false))) return false;
  return (statement.condition ?? []).every((c) => conditionMatches(c, request.context ?? {}));
}

/** True when a Deny statement of `statements` applies to the request. */
export function explicitlyDenied(statements: readonly SynthStatement[], request: IamRequest): boolean {
  return statements.some((s) => (s.effect ?? "Allow") === "Deny" && applies(s, request));
}

/** IAM's answer for one policy set: allowed only by an Allow and no Deny. */
export function allows(statements: readonly SynthStatement[], request: IamRequest): boolean {
  return !explicitlyDenied(statements, request) && statements.some((s) => (s.effect ?? "Allow") === "Allow" && applies(s, request));
}

/** A role with a permissions boundary: both its identity policies and the boundary must allow. */
export function allowsWithin(identity: readonly SynthStatement[], boundary: readonly SynthStatement[], request: IamRequest): boolean {
  return allows(identity, request) && allows(boundary, request);
}
