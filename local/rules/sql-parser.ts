/**
 * The parser of the twin's AWS IoT SQL (see sql.ts for the semantics): tokens, the syntax tree, and a
 * recursive-descent parser that refuses every construct outside the implemented subset with
 * {@link UnsupportedSqlError} (naming it) and malformed SQL with {@link SqlSyntaxError}.
 */

/** A construct outside what the twin implements (the message names it). */
export class UnsupportedSqlError extends Error {}
/** SQL that is not valid (the message says where). */
export class SqlSyntaxError extends Error {}

export type SqlValue = undefined | null | boolean | number | string | SqlValue[] | { [key: string]: SqlValue };

export type Expr =
  | { kind: "literal"; value: SqlValue }
  | { kind: "path"; segments: string[] }
  | { kind: "call"; name: string; args: Expr[] }
  | { kind: "cast"; expr: Expr; type: "String" | "Int" | "Decimal" | "Boolean" }
  | { kind: "unary"; op: "-" | "NOT"; expr: Expr }
  | { kind: "binary"; op: string; left: Expr; right: Expr };

export type SelectItem = { kind: "star" } | { kind: "field"; expr: Expr; name: string };

const FUNCTIONS = new Set(["topic", "timestamp", "floor", "concat"]);
const CAST_TYPES = new Set(["String", "Int", "Decimal", "Boolean"]);
export const COMPARISONS = new Set(["=", "<>", "!=", "<", "<=", ">", ">="]);

// --- tokens --------------------------------------------------------------------------------------

type Token = { type: "num" | "str" | "ident" | "op" | "end"; text: string; pos: number };

export function tokenize(sql: string): Token[] {
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

export class Parser {
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
    if (this.peek().type !== "end")
      throw new UnsupportedSqlError(`'${this.peek().text}' at ${this.peek().pos} is not supported after the ${where ? "WHERE" : "FROM"} clause`);
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
    if (t.type === "ident" && ["IN", "LIKE", "IS", "BETWEEN"].includes(t.text.toUpperCase()))
      throw new UnsupportedSqlError(`operator ${t.text.toUpperCase()} is not supported`);
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
