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

/** A construct outside what the twin implements (the message names it). */
export class UnsupportedSqlError extends Error {}
/** SQL that is not valid (the message says where). */
export class SqlSyntaxError extends Error {}

/** What a rule sees of one message. */
export interface SqlMessage {
  readonly topic: string;
  readonly payload: Buffer;
  /** Arrival time (epoch ms): `timestamp()`. */
  readonly timestamp: number;
}

export type SqlValue = undefined | null | boolean | number | string | SqlValue[] | { [key: string]: SqlValue };

type Expr =
  | { kind: "literal"; value: SqlValue }
  | { kind: "path"; segments: string[] }
  | { kind: "call"; name: string; args: Expr[] }
  | { kind: "cast"; expr: Expr; type: "String" | "Int" | "Decimal" | "Boolean" }
  | { kind: "unary"; op: "-" | "NOT"; expr: Expr }
  | { kind: "binary"; op: string; left: Expr; right: Expr };

type SelectItem = { kind: "star" } | { kind: "field"; expr: Expr; name: string };

export interface IotSqlQuery {
  /** The `FROM` topic filter (MQTT wildcards `+` and `#`). */
  readonly topicFilter: string;
  /** Whether `topic` matches the `FROM` filter. */
  matches(topic: string): boolean;
  /** The rule's output for a message, or `undefined` when the topic or `WHERE` does not match. */
  evaluate(message: SqlMessage): SqlValue | Buffer;
}

const FUNCTIONS = new Set(["topic", "timestamp", "floor", "concat"]);
const CAST_TYPES = new Set(["String", "Int", "Decimal", "Boolean"]);
const COMPARISONS = new Set(["=", "<>", "!=", "<", "<=", ">", ">="]);

// --- tokens --------------------------------------------------------------------------------------

type Token = { type: "num" | "str" | "ident" | "op" | "end"; text: string; pos: number };

function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'") {
      let j = i + 1;
      let text = "";
      for (;;) {
        if (j >= sql.length) throw new SqlSyntaxError(`unterminated string literal at ${i}`);
        if (sql[j] === "'" && sql[j + 1] === "'") {
          text += "'";
          j += 2;
        } else if (sql[j] === "'") break;
        else text += sql[j++];
      }
      tokens.push({ type: "str", text, pos: i });
      i = j + 1;
    } else if (/[0-9]/.test(c) || (c === "." && /[0-9]/.test(sql[i + 1] ?? ""))) {
      const m = /^[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?/.exec(sql.slice(i))!;
      tokens.push({ type: "num", text: m[0], pos: i });
      i += m[0].length;
    } else if (/[A-Za-z_$]/.test(c)) {
      const m = /^[A-Za-z_$][A-Za-z0-9_$]*/.exec(sql.slice(i))!;
      tokens.push({ type: "ident", text: m[0], pos: i });
      i += m[0].length;
    } else {
      const two = sql.slice(i, i + 2);
      if (["<>", "!=", "<=", ">="].includes(two)) {
        tokens.push({ type: "op", text: two, pos: i });
        i += 2;
      } else if ("*,().=<>+-/%".includes(c)) {
        tokens.push({ type: "op", text: c, pos: i });
        i++;
      } else {
        throw new UnsupportedSqlError(`character '${c}' at ${i} is not supported`);
      }
    }
  }
  tokens.push({ type: "end", text: "", pos: sql.length });
  return tokens;
}

// --- parser --------------------------------------------------------------------------------------

class Parser {
  private i = 0;
  constructor(private readonly tokens: Token[]) {}

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.i + offset, this.tokens.length - 1)]!;
  }
  private next(): Token {
    return this.tokens[this.i++]!;
  }
  private isKeyword(word: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t.type === "ident" && t.text.toUpperCase() === word;
  }
  private isOp(op: string): boolean {
    const t = this.peek();
    return t.type === "op" && t.text === op;
  }
  private expectKeyword(word: string): void {
    if (!this.isKeyword(word)) throw new SqlSyntaxError(`expected ${word} at ${this.peek().pos}, found '${this.peek().text}'`);
    this.i++;
  }
  private expectOp(op: string): void {
    if (!this.isOp(op)) throw new SqlSyntaxError(`expected '${op}' at ${this.peek().pos}, found '${this.peek().text}'`);
    this.i++;
  }

  statement(): { items: SelectItem[]; from: string; where?: Expr } {
    this.expectKeyword("SELECT");
    if (this.isKeyword("VALUE") || this.isKeyword("DISTINCT")) throw new UnsupportedSqlError(`SELECT ${this.peek().text.toUpperCase()} is not supported`);
    const items: SelectItem[] = [this.selectItem()];
    while (this.isOp(",")) {
      this.i++;
      items.push(this.selectItem());
    }
    this.expectKeyword("FROM");
    const from = this.next();
    if (from.type !== "str") throw new SqlSyntaxError(`FROM needs a quoted topic filter, found '${from.text}'`);
    let where: Expr | undefined;
    if (this.isKeyword("WHERE")) {
      this.i++;
      where = this.expr();
    }
    if (this.peek().type !== "end") throw new UnsupportedSqlError(`'${this.peek().text}' at ${this.peek().pos} is not supported after the ${where ? "WHERE" : "FROM"} clause`);
    return { items, from: from.text, where };
  }

  private selectItem(): SelectItem {
    if (this.isOp("*")) {
      this.i++;
      return { kind: "star" };
    }
    const start = this.peek().pos;
    const expr = this.expr();
    if (this.isKeyword("AS")) {
      this.i++;
      const alias = this.next();
      if (alias.type !== "ident") throw new SqlSyntaxError(`expected a name after AS at ${alias.pos}`);
      return { kind: "field", expr, name: alias.text };
    }
    if (expr.kind === "path") return { kind: "field", expr, name: expr.segments[expr.segments.length - 1]! };
    throw new UnsupportedSqlError(`a computed SELECT item without an alias (at ${start}) is not supported; add AS <name>`);
  }

  expr(): Expr {
    let left = this.andExpr();
    while (this.isKeyword("OR")) {
      this.i++;
      left = { kind: "binary", op: "OR", left, right: this.andExpr() };
    }
    return left;
  }
  private andExpr(): Expr {
    let left = this.notExpr();
    while (this.isKeyword("AND")) {
      this.i++;
      left = { kind: "binary", op: "AND", left, right: this.notExpr() };
    }
    return left;
  }
  private notExpr(): Expr {
    if (this.isKeyword("NOT")) {
      this.i++;
      return { kind: "unary", op: "NOT", expr: this.notExpr() };
    }
    return this.comparison();
  }
  private comparison(): Expr {
    const left = this.additive();
    const t = this.peek();
    if (t.type === "op" && COMPARISONS.has(t.text)) {
      this.i++;
      return { kind: "binary", op: t.text === "!=" ? "<>" : t.text, left, right: this.additive() };
    }
    if (t.type === "ident" && ["IN", "LIKE", "IS", "BETWEEN"].includes(t.text.toUpperCase())) throw new UnsupportedSqlError(`operator ${t.text.toUpperCase()} is not supported`);
    return left;
  }
  private additive(): Expr {
    let left = this.multiplicative();
    while (this.isOp("+") || this.isOp("-")) {
      const op = this.next().text;
      left = { kind: "binary", op, left, right: this.multiplicative() };
    }
    return left;
  }
  private multiplicative(): Expr {
    let left = this.unary();
    while (this.isOp("*") || this.isOp("/") || this.isOp("%")) {
      const op = this.next().text;
      left = { kind: "binary", op, left, right: this.unary() };
    }
    return left;
  }
  private unary(): Expr {
    if (this.isOp("-")) {
      this.i++;
      return { kind: "unary", op: "-", expr: this.unary() };
    }
    return this.primary();
  }
  private primary(): Expr {
    const t = this.next();
    if (t.type === "num") return { kind: "literal", value: Number(t.text) };
    if (t.type === "str") return { kind: "literal", value: t.text };
    if (t.type === "op" && t.text === "(") {
      const inner = this.expr();
      this.expectOp(")");
      return inner;
    }
    if (t.type !== "ident") throw new SqlSyntaxError(`unexpected '${t.text}' at ${t.pos}`);
    const upper = t.text.toUpperCase();
    if (upper === "TRUE" || upper === "FALSE") return { kind: "literal", value: upper === "TRUE" };
    if (upper === "NULL") return { kind: "literal", value: null };
    if (upper === "CASE") throw new UnsupportedSqlError("CASE is not supported");
    if (this.isOp("(")) {
      this.i++;
      if (t.text.toLowerCase() === "cast") {
        const expr = this.expr();
        this.expectKeyword("AS");
        const type = this.next().text;
        const canonical = [...CAST_TYPES].find((c) => c.toLowerCase() === type.toLowerCase());
        if (!canonical) throw new UnsupportedSqlError(`cast to ${type} is not supported`);
        this.expectOp(")");
        return { kind: "cast", expr, type: canonical as "String" };
      }
      const name = t.text.toLowerCase();
      if (!FUNCTIONS.has(name)) throw new UnsupportedSqlError(`function ${t.text}() is not supported`);
      const args: Expr[] = [];
      if (!this.isOp(")")) {
        args.push(this.expr());
        while (this.isOp(",")) {
          this.i++;
          args.push(this.expr());
        }
      }
      this.expectOp(")");
      return { kind: "call", name, args };
    }
    const segments = [t.text];
    while (this.isOp(".")) {
      this.i++;
      const seg = this.next();
      if (seg.type !== "ident") throw new SqlSyntaxError(`expected a field name after '.' at ${seg.pos}`);
      segments.push(seg.text);
    }
    return { kind: "path", segments };
  }
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
      return call(e.name, e.args.map((a) => evaluate(a, s)), s.message);
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

/** Whether an MQTT topic matches a filter with `+` (one level) and `#` (the rest, including none). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  // Filters starting with a wildcard never match `$`-topics (MQTT 4.7.2); AWS's rules follow it.
  if ((f[0] === "+" || f[0] === "#") && topic.startsWith("$")) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
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
  if (from.split("/").some((level, i, all) => (level.includes("#") && (level !== "#" || i !== all.length - 1)) || (level.includes("+") && level !== "+"))) {
    throw new SqlSyntaxError(`'${from}' is not a valid topic filter`);
  }
  return {
    topicFilter: from,
    matches: (topic) => topicMatches(from, topic),
    evaluate(message) {
      if (!topicMatches(from, message.topic)) return undefined;
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
