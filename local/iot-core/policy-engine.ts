/**
 * Evaluates AWS IoT Core policy documents the way the IoT message broker does, for the twin.
 *
 * Followed (AWS IoT Core Developer Guide):
 * - "AWS IoT Core policy variables": `*` matches any characters and `?` one character; `+` and `#` are
 *   literal characters in a policy (so `topicfilter/devices/*` grants the filter `devices/+`, and only
 *   `topicfilter/#` or `topicfilter/*` grants `#`); `${*}`, `${?}`, `${$}` stand for the literal characters.
 * - "Thing policy variables": `iot:Connection.Thing.*` resolve from the thing whose name equals the MQTT
 *   client id and that is attached to the connection's certificate; `IsAttached` is `"true"`/`"false"`.
 * - "Thing policy examples": when the certificate is not attached to the thing, a thing variable is not
 *   resolved and "will result in an access denied error" — here a resource or condition that needs an
 *   unresolved variable never matches (so it neither allows nor denies).
 * - IAM policy evaluation logic (which IoT policies follow): an explicit Deny in any attached policy wins,
 *   then any Allow, else the request is implicitly denied; statement blocks AND, values of one key OR.
 * - IAM condition operators: a key absent from the request fails every operator except the negated
 *   ones (`StringNotEquals`, `StringNotLike`, ...) and `...IfExists`, which then match.
 */

/** An IoT policy document as AWS IoT stores it (GetPolicy `policyDocument`). */
export interface IotPolicyDocument {
  readonly Version?: string;
  readonly Statement: IotPolicyStatement | readonly IotPolicyStatement[];
}

export interface IotPolicyStatement {
  readonly Sid?: string;
  readonly Effect: "Allow" | "Deny";
  readonly Action?: string | readonly string[];
  readonly NotAction?: string | readonly string[];
  readonly Resource?: string | readonly string[];
  readonly NotResource?: string | readonly string[];
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, string | readonly string[] | boolean>>>>;
}

/** The connection a request comes from: what AWS resolves policy variables against. */
export interface ConnectionContext {
  readonly clientId: string;
  readonly certificateId: string;
  /** The thing named like the client id, when it is attached to the certificate; otherwise undefined. */
  readonly thing?: { readonly thingName: string; readonly thingTypeName?: string; readonly attributes: Readonly<Record<string, string>> };
}

export type PolicyVerdict = "allowed" | "explicit-deny" | "no-policy-allows";

/** Parses and checks a policy document (as CreatePolicy would); throws a readable error. */
export function parsePolicyDocument(json: string): IotPolicyDocument {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (err) {
    throw new Error(`policy document is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const statements = (doc as { Statement?: unknown })?.Statement;
  const list = Array.isArray(statements) ? statements : statements ? [statements] : [];
  if (list.length === 0) throw new Error("policy document has no Statement");
  for (const [i, s] of list.entries()) {
    const st = s as Partial<IotPolicyStatement>;
    if (st.Effect !== "Allow" && st.Effect !== "Deny") throw new Error(`Statement[${i}].Effect must be Allow or Deny`);
    if (!st.Action && !st.NotAction) throw new Error(`Statement[${i}] has neither Action nor NotAction`);
    if (!st.Resource && !st.NotResource) throw new Error(`Statement[${i}] has neither Resource nor NotResource`);
    for (const operator of Object.keys(st.Condition ?? {})) {
      if (!isSupportedOperator(operator))
        throw new Error(`Statement[${i}] uses condition operator ${operator}, which the twin's policy engine does not evaluate`);
    }
  }
  return doc as IotPolicyDocument;
}

/**
 * The verdict of a set of policies (those attached to one certificate) on one action on one resource
 * ARN, e.g. `("iot:Subscribe", "arn:aws:iot:eu-west-1:111111111111:topicfilter/devices/+/commands")`.
 */
export function evaluatePolicies(policies: readonly IotPolicyDocument[], action: string, resourceArn: string, context: ConnectionContext): PolicyVerdict {
  let allowed = false;
  for (const policy of policies) {
    for (const statement of statementsOf(policy)) {
      if (!statementApplies(statement, action, resourceArn, context)) continue;
      if (statement.Effect === "Deny") return "explicit-deny";
      allowed = true;
    }
  }
  return allowed ? "allowed" : "no-policy-allows";
}

function statementsOf(policy: IotPolicyDocument): readonly IotPolicyStatement[] {
  return Array.isArray(policy.Statement) ? policy.Statement : [policy.Statement as IotPolicyStatement];
}

function statementApplies(statement: IotPolicyStatement, action: string, resourceArn: string, context: ConnectionContext): boolean {
  // Actions are case-insensitive and take no variables; resources are case-sensitive and do.
  const actionMatches = (pattern: string) => wildcardMatch(pattern.toLowerCase(), action.toLowerCase());
  if (statement.Action && !list(statement.Action).some(actionMatches)) return false;
  if (statement.NotAction && list(statement.NotAction).some(actionMatches)) return false;
  const resourceMatches = (pattern: string) => patternMatches(pattern, resourceArn, context);
  if (statement.Resource && !list(statement.Resource).some(resourceMatches)) return false;
  if (statement.NotResource && list(statement.NotResource).some(resourceMatches)) return false;
  return conditionsHold(statement.Condition ?? {}, context);
}

const list = (value: string | readonly string[]): readonly string[] => (typeof value === "string" ? [value] : value);

/** A compiled pattern: literal characters, `*` (any run, including `/`) and `?` (exactly one). */
type PatternToken = string | typeof ANY_RUN | typeof ANY_ONE;
const ANY_RUN = Symbol("*");
const ANY_ONE = Symbol("?");

/** `*` = any run of characters (including `/`), `?` = exactly one; everything else literal. */
export function wildcardMatch(pattern: string, value: string): boolean {
  return tokensMatch(compile(pattern), value);
}

function compile(pattern: string): PatternToken[] {
  return [...pattern].map((c) => (c === "*" ? ANY_RUN : c === "?" ? ANY_ONE : c));
}

function tokensMatch(tokens: readonly PatternToken[], value: string): boolean {
  // Iterative glob match with backtracking to the last `*`: linear in practice, no regex built from input.
  const chars = [...value];
  let p = 0;
  let v = 0;
  let star = -1;
  let mark = 0;
  while (v < chars.length) {
    const t = tokens[p];
    if (p < tokens.length && (t === ANY_ONE || t === chars[v])) {
      p++;
      v++;
    } else if (p < tokens.length && t === ANY_RUN) {
      star = p++;
      mark = v;
    } else if (star >= 0) {
      p = star + 1;
      v = ++mark;
    } else {
      return false;
    }
  }
  while (p < tokens.length && tokens[p] === ANY_RUN) p++;
  return p === tokens.length;
}

/**
 * Compiles a pattern with its `${...}` policy variables substituted; undefined when one of them
 * cannot be resolved for this connection. A substituted value (and `${*}`, `${?}`, `${$}`) is literal:
 * a client id containing `*` never becomes a wildcard.
 */
function compileWithVariables(pattern: string, context: ConnectionContext): PatternToken[] | undefined {
  const tokens: PatternToken[] = [];
  let last = 0;
  for (const m of pattern.matchAll(/\$\{([^}]*)\}/g)) {
    tokens.push(...compile(pattern.slice(last, m.index)));
    last = m.index + m[0].length;
    const name = m[1]!;
    const value = name === "*" || name === "?" || name === "$" ? name : resolveKey(name, context);
    if (value === undefined) return undefined;
    tokens.push(...value);
  }
  tokens.push(...compile(pattern.slice(last)));
  return tokens;
}

/** A policy pattern (resource or condition value) with variables, matched against a request value. */
export function patternMatches(pattern: string, value: string, context: ConnectionContext): boolean {
  const tokens = compileWithVariables(pattern, context);
  return tokens !== undefined && tokensMatch(tokens, value);
}

/** A condition value with variables substituted, compared as a plain string; undefined when unresolved. */
function substituteLiteral(pattern: string, context: ConnectionContext): string | undefined {
  const tokens = compileWithVariables(pattern, context);
  return tokens?.map((t) => (t === ANY_RUN ? "*" : t === ANY_ONE ? "?" : t)).join("");
}

/** The value of a condition key or policy variable for this connection; undefined when absent. */
export function resolveKey(key: string, context: ConnectionContext): string | undefined {
  const thing = context.thing;
  switch (key) {
    case "iot:ClientId":
      return context.clientId;
    case "iot:CertificateId":
      return context.certificateId;
    case "iot:Connection.Thing.IsAttached":
      return thing ? "true" : "false";
    case "iot:Connection.Thing.ThingName":
      return thing?.thingName;
    case "iot:Connection.Thing.ThingTypeName":
      return thing?.thingTypeName;
  }
  const attribute = /^iot:Connection\.Thing\.Attributes\[(.+)\]$/.exec(key);
  if (attribute) return thing?.attributes[attribute[1]!];
  return undefined;
}

/** Compares a request value with one condition value (which may hold policy variables). */
type Matcher = (actual: string, expected: string, context: ConnectionContext) => boolean;

const equals: Matcher = (a, e, c) => substituteLiteral(e, c) === a;
const equalsIgnoreCase: Matcher = (a, e, c) => substituteLiteral(e, c)?.toLowerCase() === a.toLowerCase();
const like: Matcher = (a, e, c) => patternMatches(e, a, c);

const OPERATORS: Readonly<Record<string, { match: Matcher; negated: boolean }>> = {
  StringEquals: { match: equals, negated: false },
  StringNotEquals: { match: equals, negated: true },
  StringEqualsIgnoreCase: { match: equalsIgnoreCase, negated: false },
  StringNotEqualsIgnoreCase: { match: equalsIgnoreCase, negated: true },
  StringLike: { match: like, negated: false },
  StringNotLike: { match: like, negated: true },
  ArnEquals: { match: equals, negated: false },
  ArnNotEquals: { match: equals, negated: true },
  ArnLike: { match: like, negated: false },
  ArnNotLike: { match: like, negated: true },
  Bool: { match: equalsIgnoreCase, negated: false },
};

function conditionsHold(conditions: NonNullable<IotPolicyStatement["Condition"]>, context: ConnectionContext): boolean {
  return Object.entries(conditions).every(([operator, block]) =>
    Object.entries(block).every(([key, expected]) => conditionHolds(operator, key, expected, context)),
  );
}

function parseOperator(rawOperator: string): { operator: string; setPrefix?: string; ifExists: boolean } {
  const setPrefix = /^(ForAnyValue|ForAllValues):/.exec(rawOperator)?.[1];
  const operator = setPrefix ? rawOperator.slice(setPrefix.length + 1) : rawOperator;
  const ifExists = operator.endsWith("IfExists");
  return { operator: ifExists ? operator.slice(0, -"IfExists".length) : operator, setPrefix, ifExists };
}

function isSupportedOperator(rawOperator: string): boolean {
  const { operator } = parseOperator(rawOperator);
  return operator === "Null" || operator in OPERATORS;
}

function conditionHolds(rawOperator: string, key: string, expectedRaw: string | readonly string[] | boolean, context: ConnectionContext): boolean {
  // Every key the twin knows is single-valued, so ForAnyValue/ForAllValues reduce to the plain operator
  // (ForAllValues on an absent key is true, as in IAM).
  const { operator, setPrefix, ifExists } = parseOperator(rawOperator);
  const actual = resolveKey(key, context);
  const expected = typeof expectedRaw === "boolean" ? [String(expectedRaw)] : list(expectedRaw);

  if (operator === "Null") {
    // Null: "true" holds when the key is absent, "false" when it is present.
    return expected.some((e) => (e === "true") === (actual === undefined));
  }
  const spec = OPERATORS[operator];
  if (!spec) return false; // parsePolicyDocument refuses such documents; a hand-built one denies

  if (actual === undefined) return ifExists || spec.negated || setPrefix === "ForAllValues";
  const anyMatch = expected.some((e) => spec.match(actual, e, context));
  return spec.negated ? !anyMatch : anyMatch;
}
