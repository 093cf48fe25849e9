/**
 * Lambda event filtering (`filter_criteria.filter[].pattern`) for DynamoDB stream records, the subset the
 * stacks use: a pattern is a JSON object whose leaves are arrays of allowed values (exact match of a
 * string, number, boolean or null) or `{"exists": true|false}`; nested objects AND their fields, the
 * values of one array OR, and several patterns OR (a record is sent when any pattern matches).
 * https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html
 *
 * Anything else (prefix, suffix, anything-but, numeric ranges, wildcard, `$or`, `equals-ignore-case`,
 * cidr, a bare value instead of an array) is refused when the mapping is loaded, naming the pattern, so a
 * stack that starts using it fails the twin's start instead of filtering differently from Lambda.
 */

type Matcher = (value: unknown, present: boolean) => boolean;

/** Compiles one pattern (JSON text) into a predicate on a stream record; throws on an unsupported pattern. */
export function compileFilterPattern(pattern: string): (record: unknown) => boolean {
  let parsed: unknown;
  try {
    parsed = JSON.parse(pattern);
  } catch {
    throw new Error(`filter pattern ${pattern} is not JSON`);
  }
  if (!isObject(parsed)) throw new Error(`filter pattern ${pattern} is not a JSON object`);
  const match = compileObject(parsed, pattern, "");
  return (record) => match(record, true);
}

/** The mapping's patterns as one predicate: no pattern = every record; otherwise any pattern matching. */
export function compileFilterCriteria(patterns: readonly string[]): (record: unknown) => boolean {
  const compiled = patterns.map(compileFilterPattern);
  return compiled.length === 0 ? () => true : (record) => compiled.some((p) => p(record));
}

function compileObject(pattern: Record<string, unknown>, whole: string, at: string): Matcher {
  const fields = Object.entries(pattern).map(([name, sub]) => {
    const path = at ? `${at}.${name}` : name;
    if (name.startsWith("$")) throw new Error(`filter pattern ${whole}: ${path} (${name}) is not supported by the twin`);
    const match = isObject(sub) ? compileObject(sub, whole, path) : compileValues(sub, whole, path);
    return { name, match };
  });
  return (value, present) => {
    // A missing (or leaf) value: its fields are all missing, which only `{"exists": false}` accepts.
    if (!present || !isObject(value)) return fields.every(({ match }) => match(undefined, false));
    return fields.every(({ name, match }) => match(value[name], Object.prototype.hasOwnProperty.call(value, name)));
  };
}

function compileValues(values: unknown, whole: string, path: string): Matcher {
  if (!Array.isArray(values) || values.length === 0) throw new Error(`filter pattern ${whole}: ${path} must be a non-empty array of values`);
  const exact: unknown[] = [];
  let exists: boolean | undefined;
  for (const v of values) {
    if (v === null || ["string", "number", "boolean"].includes(typeof v)) exact.push(v);
    else if (isObject(v) && Object.keys(v).length === 1 && typeof v.exists === "boolean") exists = v.exists;
    else
      throw new Error(`filter pattern ${whole}: ${path} uses ${JSON.stringify(v)}, which the twin does not support (exact values and {"exists": bool} only)`);
  }
  return (value, present) => {
    // `exists` tests a leaf: a present object value is not a leaf (Lambda's rule), so it does not count.
    if (exists !== undefined && (present && !isObject(value)) === exists) return true;
    if (!present) return false;
    // A leaf that is an array matches when any of its elements does.
    const candidates = Array.isArray(value) ? value : [value];
    return candidates.some((c) => exact.some((e) => e === c));
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}
