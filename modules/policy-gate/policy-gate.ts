/**
 * The policy gate: a CDKTF Aspect that adds a validation to every stack it visits. At synth time
 * (after aspects, before any file is written) the validation reads the stack's resolved Terraform
 * JSON, runs the rule pack on it, and fails synth with one message per unsuppressed violation that
 * names the stack, the Terraform address, the rule, why it matters and the fix.
 *
 * @example PolicyGate.applyTo(stack)                      // FleetStack does this for every stack
 * @example PolicyGate.suppress(natGateway, "COST-NO-NAT-GATEWAY", "private subnets for the database, approved in #123")
 */
import { Aspects, IAspect, TerraformDataSource, TerraformResource, TerraformStack } from "cdktf";
import { IConstruct } from "constructs";
import { Finding, Rule } from "./rule";
import { RULES, ruleById } from "./rules";
import { StackView, TerraformJson } from "./stack-view";

interface Suppression {
  readonly ruleId: string;
  readonly reason: string;
}

export interface GateFinding extends Finding {
  readonly stack: string;
  readonly rule: Rule;
}

export interface SuppressedFinding extends GateFinding {
  readonly reason: string;
}

export interface StackResult {
  readonly stack: string;
  readonly violations: readonly GateFinding[];
  readonly suppressed: readonly SuppressedFinding[];
  /** Suppressions that matched no violation: stale, remove them. */
  readonly unused: readonly { readonly path: string; readonly ruleId: string; readonly reason: string }[];
  /** Time the gate spent on this stack (reading its JSON and running the rules). */
  readonly millis: number;
}

export interface GateReport {
  readonly rulesRun: number;
  readonly stacks: readonly StackResult[];
}

const suppressions = new WeakMap<IConstruct, Suppression[]>();
const installed = new WeakSet<TerraformStack>();
const results = new WeakMap<IConstruct, Map<string, StackResult>>();
const views = new WeakMap<TerraformStack, StackView>();

/** Runs the rules on one stack's view; no suppressions applied. */
export function evaluate(view: StackView, rules: readonly Rule[] = RULES): GateFinding[] {
  return rules.flatMap((rule) => rule.check(view).map((f) => ({ ...f, stack: view.stack, rule })));
}

/** One violation as synth prints it. */
export function formatViolation(f: GateFinding): string {
  return `policy gate: ${f.stack} ${f.address} violates ${f.rule.id} (${f.rule.title}): ${f.detail}. Why: ${f.rule.why}. Fix: ${f.rule.fix}. To accept it, PolicyGate.suppress(<construct>, "${f.rule.id}", "<reason>").`;
}

export class PolicyGate implements IAspect {
  /** Adds the gate to a stack (idempotent). */
  static applyTo(stack: TerraformStack): void {
    Aspects.of(stack).add(new PolicyGate());
  }

  /**
   * Accepts violations of `ruleId` by the resources at or under `scope`, for a written reason that
   * synth prints every time. Throws on an unknown rule or an empty reason.
   */
  static suppress(scope: IConstruct, ruleId: string, reason: string): void {
    if (!ruleById(ruleId))
      throw new Error(`PolicyGate.suppress(${scope.node.path}): unknown rule "${ruleId}"; rule ids are listed in the README ("Policy gate")`);
    if (typeof reason !== "string" || reason.trim().length < 10) {
      throw new Error(
        `PolicyGate.suppress(${scope.node.path}, "${ruleId}"): a suppression needs a written reason (at least 10 characters) saying why the risk is accepted`,
      );
    }
    suppressions.set(scope, [...(suppressions.get(scope) ?? []), { ruleId, reason: reason.trim() }]);
  }

  /** What the gate found in every stack of the app validated so far (after `app.synth()`: all of them). */
  static report(app: IConstruct): GateReport {
    return { rulesRun: RULES.length, stacks: [...(results.get(app.node.root)?.values() ?? [])] };
  }

  visit(node: IConstruct): void {
    if (!TerraformStack.isStack(node) || installed.has(node)) return;
    installed.add(node);
    node.node.addValidation({ validate: () => validateStack(node) });
  }
}

function viewOf(stack: TerraformStack, fresh = false): StackView {
  let view = fresh ? undefined : views.get(stack);
  if (!view) {
    const others = () =>
      stack.node.root.node
        .findAll()
        .filter(TerraformStack.isStack)
        .filter((s) => s !== stack)
        .map((s) => viewOf(s));
    view = new StackView(stack.node.id, stack.toTerraform() as TerraformJson, others);
    views.set(stack, view);
  }
  return view;
}

/** Terraform addresses under a construct, as the synthesized JSON names them. */
function addressesUnder(scope: IConstruct): string[] {
  return scope.node.findAll().flatMap((c) => {
    if (TerraformDataSource.isTerraformDataSource(c)) return [`data.${c.terraformResourceType}.${c.friendlyUniqueId}`];
    if (TerraformResource.isTerraformResource(c)) return [`${c.terraformResourceType}.${c.friendlyUniqueId}`];
    return [];
  });
}

function validateStack(stack: TerraformStack): string[] {
  const started = performance.now();
  const view = viewOf(stack, true);
  const findings = evaluate(view);
  const accepted = stack.node
    .findAll()
    .flatMap((scope) => (suppressions.get(scope) ?? []).map((s) => ({ ...s, path: scope.node.path, addresses: new Set(addressesUnder(scope)) })));
  const used = new Set<(typeof accepted)[number]>();
  const violations: GateFinding[] = [];
  const suppressed: SuppressedFinding[] = [];
  for (const f of findings) {
    const match = accepted.find((s) => s.ruleId === f.rule.id && s.addresses.has(f.address));
    if (match) {
      used.add(match);
      suppressed.push({ ...f, reason: match.reason });
    } else violations.push(f);
  }
  const unused = accepted.filter((s) => !used.has(s)).map(({ path, ruleId, reason }) => ({ path, ruleId, reason }));
  const root = stack.node.root;
  if (!results.has(root)) results.set(root, new Map());
  results.get(root)!.set(view.stack, { stack: view.stack, violations, suppressed, unused, millis: performance.now() - started });
  return violations.map(formatViolation);
}

/** The summary `npm run synth` prints: rules run, violations, every suppression with its reason. */
export function formatSummary(report: GateReport): string {
  const violations = report.stacks.flatMap((s) => s.violations);
  const suppressed = report.stacks.flatMap((s) => s.suppressed);
  const unused = report.stacks.flatMap((s) => s.unused);
  const millis = Math.round(report.stacks.reduce((sum, s) => sum + s.millis, 0));
  const lines = [
    `Policy gate: ${report.rulesRun} rules on ${report.stacks.length} stacks, ${violations.length} violations, ${suppressed.length} suppressed (${millis} ms)`,
  ];
  for (const v of violations) lines.push(`  VIOLATION ${v.rule.id} ${v.stack} ${v.address}: ${v.detail}`);
  for (const s of suppressed) lines.push(`  suppressed ${s.rule.id} ${s.stack} ${s.address}: ${s.reason}`);
  for (const u of unused) lines.push(`  unused suppression ${u.ruleId} at ${u.path} (matches no violation; remove it): ${u.reason}`);
  return lines.join("\n");
}
