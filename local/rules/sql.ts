/**
 * AWS IoT SQL (version `2016-03-23`), the subset the stacks' topic rules use: parse once, evaluate per
 * message. Semantics follow AWS's SQL reference:
 *
 * - a referenced field that is absent is `Undefined`, and `Undefined` is left out of the result;
 * - `SELECT *, x AS y` is the payload object with `y` added (a later item overrides an earlier key);
 * - a nested field without an alias (`metrics.co2_ppm`) is named by its last segment;
 * - comparisons convert both sides to numbers (numeric strings too) and are `Undefined` otherwise;
 *   `=`/`<>` compare strings and booleans as such; the rule fires only when `WHERE` is `true`;
 * - whole numbers are `Int` (SQL V2), `Int / Int` is integer division, `topic(n)` counts from 1.
 *
 * Anything else (functions, operators, clauses) is refused at parse time with {@link UnsupportedSqlError},
 * so a rule the twin cannot evaluate faithfully fails loudly instead of doing something else.
 *
 * ```ts
 * const q = parseIotSql("SELECT *, topic(2) AS thingName FROM 'devices/+/errors' WHERE code <> 'OK'");
 * q.evaluate({ topic: "devices/SN-1/errors", payload, timestamp: Date.now() });  // object, or undefined when no match
 * ```
 */

import { isValidTopicFilter, topicMatchesFilter } from "../iot-core/mqtt-codes";
import { COMPARISONS, Parser, SqlSyntaxError, tokenize, type Expr, type SqlValue } from "./sql-parser";

export { SqlSyntaxError, UnsupportedSqlError, type SqlValue } from "./sql-parser";

/** What a rule sees of one message. */
export interface SqlMessage {
  readonly topic: string;
  readonly payload: Buffer;
  /** Arrival time (epoch ms): `timestamp()`. */
  readonly timestamp: number;
}

export interface IotSqlQuery {
  /** The `FROM` topic filter (MQTT wildcards `+` and `#`). */
  readonly topicFilter: string;
  /** Whether `topic` matches the `FROM` filter. */
  matches(topic: string): boolean;
  /**
   * The rule's output for a message, or `undefined` when the topic or `WHERE` does not match. `basicIngest`:
   * the rule was named by a Basic Ingest topic, so FROM is not matched (local/iot-core/basic-ingest.ts).
   */
  evaluate(message: SqlMessage, options?: { readonly basicIngest?: boolean }): SqlValue | Buffer;
}

// --- evaluation ----------------------------------------------------------------------------------

interface Scope {
  readonly doc: SqlValue;
  readonly message: SqlMessage;
}

/** A number from an Int, Decimal or numeric string; `undefined` otherwise (AWS's "To Decimal"). */
function toNumber(v: SqlValue): number | undefined {
  if (typeof v === "number") return v;
  if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) return Number(v);
  return undefined;
}

function toBoolean(v: SqlValue): boolean | undefined {
  if (typeof v === "boolean") return v;
  if (typeof v === "string" && /^(true|false)$/i.test(v)) return v.toLowerCase() === "true";
  return undefined;
}

/** `cast(x AS String)`: numbers and booleans as JSON writes them, objects and arrays as JSON. */
function toText(v: SqlValue): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v === "string") return v;
  return JSON.stringify(v);
}

function cast(v: SqlValue, type: "String" | "Int" | "Decimal" | "Boolean"): SqlValue {
  if (v === undefined || v === null) return undefined;
  switch (type) {
    case "String":
      return toText(v);
    case "Decimal":
      return typeof v === "boolean" ? (v ? 1 : 0) : toNumber(v);
    case "Int": {
      const n = typeof v === "boolean" ? (v ? 1 : 0) : toNumber(v);
      return n === undefined ? undefined : Math.trunc(n);
    }
    case "Boolean":
      if (typeof v === "number") return v !== 0;
      return toBoolean(v);
  }
}

function arithmetic(op: string, a: SqlValue, b: SqlValue): SqlValue {
  const x = toNumber(a);
  const y = toNumber(b);
  if (x === undefined || y === undefined) return undefined;
  switch (op) {
    case "+":
      return x + y;
    case "-":
      return x - y;
    case "*":
      return x * y;
    case "/":
      if (y === 0) return undefined;
      return Number.isInteger(x) && Number.isInteger(y) ? Math.trunc(x / y) : x / y;
    default:
      if (y === 0) return undefined;
      return x % y;
  }
}

function compare(op: string, a: SqlValue, b: SqlValue): SqlValue {
  if (a === undefined || b === undefined) return undefined;
  const x = toNumber(a);
  const y = toNumber(b);
  if (x !== undefined && y !== undefined) {
    switch (op) {
      case "=":
        return x === y;
      case "<>":
        return x !== y;
      case "<":
        return x < y;
      case "<=":
        return x <= y;
      case ">":
        return x > y;
      default:
        return x >= y;
    }
  }
  if (op === "=" || op === "<>") {
    const equal = JSON.stringify(a) === JSON.stringify(b);
    return op === "=" ? equal : !equal;
  }
  return undefined;
}

function concat(args: SqlValue[]): SqlValue {
  if (args.length < 2 || args.some((a) => a === undefined)) return undefined;
  if (args.some(Array.isArray)) return args.flatMap((a) => (Array.isArray(a) ? a : [a]));
  return args.map((a) => toText(a)!).join("");
}

function evaluate(e: Expr, s: Scope): SqlValue {
  switch (e.kind) {
    case "literal":
      return e.value;
    case "path": {
      let v: SqlValue = s.doc;
      for (const seg of e.segments) {
        if (v === null || typeof v !== "object" || Array.isArray(v) || !Object.prototype.hasOwnProperty.call(v, seg)) return undefined;
        v = (v as Record<string, SqlValue>)[seg];
      }
      return v;
    }
    case "cast":
      return cast(evaluate(e.expr, s), e.type);
    case "unary": {
      const v = evaluate(e.expr, s);
      if (e.op === "NOT") {
        const b = toBoolean(v);
        return b === undefined ? undefined : !b;
      }
      const n = toNumber(v);
      return n === undefined ? undefined : -n;
    }
    case "binary": {
      if (e.op === "AND" || e.op === "OR") {
        const l = toBoolean(evaluate(e.left, s));
        const r = toBoolean(evaluate(e.right, s));
        if (l === undefined || r === undefined) return undefined;
        return e.op === "AND" ? l && r : l || r;
      }
      const l = evaluate(e.left, s);
      const r = evaluate(e.right, s);
      return COMPARISONS.has(e.op) ? compare(e.op, l, r) : arithmetic(e.op, l, r);
    }
    case "call":
      return call(
        e.name,
        e.args.map((a) => evaluate(a, s)),
        s.message,
      );
  }
}

function call(name: string, args: SqlValue[], message: SqlMessage): SqlValue {
  switch (name) {
    case "topic": {
      if (args.length === 0) return message.topic;
      const n = toNumber(args[0]);
      const levels = message.topic.split("/");
      return n !== undefined && Number.isInteger(n) && n >= 1 && n <= levels.length ? levels[n - 1] : undefined;
    }
    case "timestamp":
      return message.timestamp;
    case "floor": {
      const n = toNumber(args[0]);
      return n === undefined ? undefined : Math.floor(n);
    }
    default:
      return concat(args);
  }
}

function parsePayload(payload: Buffer): SqlValue {
  try {
    return JSON.parse(payload.toString("utf8")) as SqlValue;
  } catch {
    return undefined;
  }
}

/** Parse one rule's SQL; throws {@link UnsupportedSqlError} or {@link SqlSyntaxError}. */
export function parseIotSql(sql: string): IotSqlQuery {
  const { items, from, where } = new Parser(tokenize(sql)).statement();
  if (!isValidTopicFilter(from)) throw new SqlSyntaxError(`'${from}' is not a valid topic filter`);
  return {
    topicFilter: from,
    matches: (topic) => topicMatchesFilter(from, topic),
    evaluate(message, options) {
      if (!options?.basicIngest && !topicMatchesFilter(from, message.topic)) return undefined;
      const doc = parsePayload(message.payload);
      const scope: Scope = { doc, message };
      if (where && evaluate(where, scope) !== true) return undefined;
      // SELECT * of a payload that is not JSON passes it on as it came (binary payloads).
      if (items.length === 1 && items[0]!.kind === "star" && doc === undefined) return message.payload;
      const out: Record<string, SqlValue> = {};
      for (const item of items) {
        if (item.kind === "star") {
          if (doc !== null && typeof doc === "object" && !Array.isArray(doc)) Object.assign(out, doc);
          continue;
        }
        const value = evaluate(item.expr, scope);
        if (value !== undefined) out[item.name] = value;
      }
      return out;
    },
  };
}
