/**
 * The pull-request plan comment: one comment per pull request, found again by a hidden marker and
 * updated in place on every push. For each environment a table with one row per stack in deployment
 * order (to add / to change / to destroy, destroys and replacements called out), then each stack's full
 * plan folded underneath, everything cut to fit GitHub's comment limit.
 *
 * Input is what `scripts/ci-terraform.ts plan` writes per environment (`report.json`): a summary made
 * from `terraform show -json` (addresses and actions only, never attribute values) and the text of
 * `terraform show` (which redacts sensitive values). Raw plan JSON holds secrets in clear text and never
 * leaves the runner.
 *
 *   npx tsx scripts/pr-comment.ts --reports DIR [--out FILE] [--sha SHA] [--run-url URL]
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { environmentNames } from "../config";

/** Hidden first line of the comment: how the workflow finds the comment to update. */
export const COMMENT_MARKER = "<!-- smart-home-fleet-iac:terraform-plan -->";
/** GitHub rejects issue comments longer than this many characters. */
export const GITHUB_COMMENT_LIMIT = 65536;

// ---------------------------------------------------------------------------------------------
// Summaries of `terraform show -json`
// ---------------------------------------------------------------------------------------------

/** The parts of `terraform show -json <planfile>` this module reads. */
export interface TerraformShowJson {
  readonly resource_changes?: readonly {
    readonly address: string;
    readonly mode?: string;
    readonly type?: string;
    readonly action_reason?: string;
    readonly change: { readonly actions: readonly string[]; readonly replace_paths?: readonly (readonly (string | number)[])[] };
  }[];
  readonly output_changes?: Readonly<Record<string, { readonly actions: readonly string[] }>>;
  readonly resource_drift?: readonly unknown[];
  readonly errored?: boolean;
}

export type ChangeAction = "create" | "update" | "delete" | "replace" | "forget";

export interface ResourceChange {
  readonly address: string;
  readonly action: ChangeAction;
  /** For replacements: the attributes that force it (from `replace_paths`). */
  readonly replacedBecauseOf?: readonly string[];
}

/** Counts as Terraform's own "Plan:" line counts them: a replacement is one to add and one to destroy. */
export interface PlanSummary {
  readonly add: number;
  readonly change: number;
  readonly destroy: number;
  readonly replace: number;
  readonly forget: number;
  /** Root outputs added, changed or removed. */
  readonly outputChanges: number;
  /** Managed resources with an action, in plan order. */
  readonly resources: readonly ResourceChange[];
}

/** Reduces `terraform show -json` output to counts and addresses; attribute values are never copied. */
export function summarizePlan(plan: TerraformShowJson): PlanSummary {
  const resources: ResourceChange[] = [];
  for (const rc of plan.resource_changes ?? []) {
    if (rc.mode !== undefined && rc.mode !== "managed") continue;
    const action = classify(rc.change.actions);
    if (!action) continue;
    const replacedBecauseOf = action === "replace" && rc.change.replace_paths?.length ? rc.change.replace_paths.map((path) => path.join(".")) : undefined;
    resources.push({ address: rc.address, action, ...(replacedBecauseOf ? { replacedBecauseOf } : {}) });
  }
  const count = (action: ChangeAction) => resources.filter((r) => r.action === action).length;
  const replace = count("replace");
  const outputChanges = Object.values(plan.output_changes ?? {}).filter((o) => !o.actions.every((a) => a === "no-op")).length;
  return {
    add: count("create") + replace,
    change: count("update"),
    destroy: count("delete") + replace,
    replace,
    forget: count("forget"),
    outputChanges,
    resources,
  };
}

function classify(actions: readonly string[]): ChangeAction | undefined {
  const has = (a: string) => actions.includes(a);
  if (has("create") && has("delete")) return "replace";
  if (has("create")) return "create";
  if (has("delete")) return "delete";
  if (has("update")) return "update";
  if (has("forget")) return "forget";
  return undefined; // no-op, read
}

/** True when applying the plan would change anything, outputs included. */
export function hasChanges(summary: PlanSummary): boolean {
  return summary.resources.length > 0 || summary.outputChanges > 0;
}

// ---------------------------------------------------------------------------------------------
// Reports written by the plan job
// ---------------------------------------------------------------------------------------------

/** `bootstrap` and `administrator`: stacks an administrator applies by hand, which CI skips. */
export type StackStatus = "planned" | "failed" | "bootstrap" | "administrator";

export interface StackReport {
  readonly stack: string;
  readonly status: StackStatus;
  readonly summary?: PlanSummary;
  /** `terraform show -no-color` of the saved plan (sensitive values already redacted by Terraform). */
  readonly planText?: string;
  /** For failures: the failing step and Terraform's error text. */
  readonly error?: { readonly step: string; readonly message: string };
  /**
   * For failures: stacks this one reads from (directly or not) that have changes in the same plan.
   * The failure is then most likely a new cross-stack output that does not exist before the apply.
   */
  readonly blockedBy?: readonly string[];
}

export interface EnvironmentReport {
  readonly environment: string;
  /** Stacks in deployment order. */
  readonly stacks: readonly StackReport[];
  /** Name of the workflow artifact holding the full plans. */
  readonly artifact?: string;
}

export interface CommentInput {
  readonly environments: readonly EnvironmentReport[];
  /** Environments whose plan job wrote no report (it failed before planning). */
  readonly missingEnvironments?: readonly string[];
  readonly commitSha?: string;
  readonly runUrl?: string;
  /** @default GITHUB_COMMENT_LIMIT */
  readonly maxLength?: number;
}

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

interface Fold {
  readonly title: string;
  readonly body: string;
  readonly fenceLanguage: string;
  readonly artifact?: string;
}

/** Renders the whole comment, never longer than `maxLength` characters. */
export function renderComment(input: CommentInput): string {
  const maxLength = input.maxLength ?? GITHUB_COMMENT_LIMIT;
  const head = renderHead(input);
  const sections = input.environments.map((env) => ({ env, table: renderEnvironmentTable(env), folds: foldsOf(env) }));
  const footer =
    "\n<sub>Plans of later stacks read the current outputs of earlier stacks; the apply on merge plans each stack again after the ones before it are applied.</sub>\n";

  const assemble = (bodies: Map<Fold, string> | undefined): string => {
    const parts = [head];
    for (const section of sections) {
      parts.push(section.table);
      if (bodies) for (const fold of section.folds) parts.push(renderFold(fold, bodies.get(fold) ?? ""));
    }
    parts.push(footer);
    return parts.join("\n");
  };

  const folds = sections.flatMap((s) => s.folds);
  const full = new Map(folds.map((fold) => [fold, fold.body] as [Fold, string]));
  const complete = assemble(full);
  if (complete.length <= maxLength) return complete;

  // Too long: share what is left after the fixed parts between the plans, smallest first, so short
  // plans stay whole and long ones are cut at a line boundary with a pointer to the artifact.
  const empty = new Map(folds.map((fold) => [fold, ""] as [Fold, string]));
  const safety = 64;
  let budget = maxLength - assemble(empty).length - safety;
  if (budget < folds.length * 200) {
    const withoutFolds = assemble(undefined) + "\n> Plans are too long to show here; they are in the workflow run's artifacts.\n";
    return withoutFolds.length <= maxLength ? withoutFolds : hardCut(withoutFolds, maxLength);
  }
  const bodies = new Map<Fold, string>();
  const bySize = [...folds].sort((a, b) => a.body.length - b.body.length);
  bySize.forEach((fold, index) => {
    const share = Math.floor(budget / (bySize.length - index));
    const body = fold.body.length <= share ? fold.body : truncateBody(fold, share);
    bodies.set(fold, body);
    budget -= body.length;
  });
  const result = assemble(bodies);
  return result.length <= maxLength ? result : hardCut(result, maxLength);
}

function renderHead(input: CommentInput): string {
  const stacks = input.environments.flatMap((env) => env.stacks.map((s) => ({ env: env.environment, ...s })));
  const planned = stacks.filter((s) => s.status === "planned" && s.summary);
  const changed = planned.filter((s) => hasChanges(s.summary!));
  const destructive = planned.filter((s) => s.summary!.destroy > 0);
  const failed = stacks.filter((s) => s.status === "failed" && !s.blockedBy?.length);
  const blocked = stacks.filter((s) => s.status === "failed" && s.blockedBy?.length);
  const facts = [
    `${changed.length} stack${changed.length === 1 ? "" : "s"} with changes`,
    destructive.length ? `⚠️ **${destructive.length} stack${destructive.length === 1 ? "" : "s"} destroying or replacing resources**` : "nothing destroyed",
    failed.length ? `❌ **${failed.length} failed**` : "",
    blocked.length ? `⏳ ${blocked.length} waiting for an earlier stack's apply` : "",
  ].filter(Boolean);
  const meta = [input.commitSha ? `commit \`${input.commitSha.slice(0, 12)}\`` : "", input.runUrl ? `[workflow run](${input.runUrl})` : ""].filter(Boolean);
  const missing = (input.missingEnvironments ?? []).map(
    (env) => `> [!CAUTION]\n> \`${env}\`: no plan. The plan job stopped before planning (synth, credentials or the stack order check); see the workflow run.\n`,
  );
  if (missing.length) facts.push(`❌ **${missing.length} environment${missing.length === 1 ? "" : "s"} not planned**`);
  return [COMMENT_MARKER, "## Terraform plan", "", `${facts.join(" · ")}${meta.length ? ` — ${meta.join(" · ")}` : ""}`, "", ...missing].join("\n");
}

/** The table of one environment plus the list of destructive changes under it. */
export function renderEnvironmentTable(env: EnvironmentReport): string {
  const lines = [`### \`${env.environment}\``, "", "| # | Stack | To add | To change | To destroy | Result |", "|---:|---|---:|---:|---:|---|"];
  env.stacks.forEach((s, index) => {
    const n = index + 1;
    if (s.status === "planned" && s.summary) {
      const { add, change, destroy } = s.summary;
      lines.push(`| ${n} | \`${s.stack}\` | ${add} | ${change} | ${destroy} | ${resultOf(s.summary)} |`);
    } else {
      lines.push(`| ${n} | \`${s.stack}\` | – | – | – | ${resultOfUnplanned(s)} |`);
    }
  });
  const warnings = env.stacks.flatMap((s) =>
    (s.summary?.resources ?? [])
      .filter((r) => r.action === "delete" || r.action === "replace")
      .map((r) =>
        r.action === "delete"
          ? `- \`${s.stack}\`: **destroys** \`${r.address}\``
          : `- \`${s.stack}\`: **replaces** \`${r.address}\`${r.replacedBecauseOf?.length ? ` (forced by ${r.replacedBecauseOf.map((p) => `\`${p}\``).join(", ")})` : ""}`,
      ),
  );
  if (warnings.length > 0) {
    lines.push("", "> [!WARNING]", `> Destructive changes in \`${env.environment}\`:`, ...warnings.map((w) => `> ${w}`));
  }
  lines.push("");
  return lines.join("\n");
}

function resultOf(summary: PlanSummary): string {
  if (!hasChanges(summary)) return "✅ no changes";
  const notes: string[] = [];
  const deletes = summary.destroy - summary.replace;
  if (summary.replace > 0) notes.push(`**replaces ${summary.replace}**`);
  if (deletes > 0) notes.push(`**destroys ${deletes}**`);
  if (summary.forget > 0) notes.push(`forgets ${summary.forget} (kept in AWS, dropped from state)`);
  if (summary.resources.length === 0) notes.push("outputs only");
  const warn = summary.destroy > 0 ? "⚠️ " : "📝 ";
  return `${warn}${notes.length ? notes.join(", ") : "changes"}`;
}

function resultOfUnplanned(s: StackReport): string {
  if (s.status === "bootstrap") return "🔧 bootstrap stack (local state): applied by hand, not planned in CI";
  if (s.status === "administrator") return "🔐 CI identities: applied by an administrator by hand, not planned in CI";
  if (s.blockedBy?.length) {
    return `⏳ plan failed; it reads outputs of ${s.blockedBy.map((b) => `\`${b}\``).join(", ")}, which change here. It is planned again after they are applied.`;
  }
  return `❌ **plan failed** at \`${s.error?.step ?? "plan"}\``;
}

function foldsOf(env: EnvironmentReport): Fold[] {
  return env.stacks.flatMap((s): Fold[] => {
    if (s.status === "bootstrap" || s.status === "administrator") return [];
    if (s.status === "failed") {
      return [
        {
          title: `${env.environment} · ${s.stack} — plan failed at ${s.error?.step ?? "plan"}`,
          body: s.error?.message ?? "(no error text)",
          fenceLanguage: "text",
          artifact: env.artifact,
        },
      ];
    }
    const summary = s.summary;
    const counts = summary ? `${summary.add} to add, ${summary.change} to change, ${summary.destroy} to destroy` : "";
    const title = `${env.environment} · ${s.stack} — ${summary && !hasChanges(summary) ? "no changes" : counts}`;
    const body = s.planText !== undefined ? diffHighlight(s.planText.trimEnd()) : summary ? listFromSummary(summary) : "(no plan)";
    return [{ title, body, fenceLanguage: "diff", artifact: env.artifact }];
  });
}

/** When no plan text is at hand: the changed addresses with Terraform's action symbols. */
function listFromSummary(summary: PlanSummary): string {
  if (summary.resources.length === 0) return summary.outputChanges > 0 ? `! ${summary.outputChanges} output(s) change` : "No changes.";
  const symbol: Record<ChangeAction, string> = { create: "+", update: "!", delete: "-", replace: "-/+", forget: "#" };
  return summary.resources.map((r) => `${symbol[r.action]} ${r.address}`).join("\n");
}

/**
 * Moves Terraform's indented action symbols to the start of the line, so GitHub's `diff` highlighting
 * colours additions, removals and in-place changes (`~` becomes `!`).
 */
export function diffHighlight(planText: string): string {
  return planText
    .split("\n")
    .map((line) => {
      const match = /^(\s*)(-\/\+|\+\/-|<=|[-+~])(?=\s|$)(.*)$/.exec(line);
      if (!match) return line;
      const [, indent, symbol, after] = match;
      const mapped = symbol === "+" ? "+" : symbol === "-" ? "-" : "!";
      return `${mapped}${indent}${symbol.length > 1 ? symbol : ""}${after}`;
    })
    .join("\n");
}

function renderFold(fold: Fold, body: string): string {
  const fence = "`".repeat(Math.max(3, longestBacktickRun(body) + 1));
  return [`<details><summary>${escapeHtml(fold.title)}</summary>`, "", `${fence}${fold.fenceLanguage}`, body, fence, "", "</details>", ""].join("\n");
}

function truncateBody(fold: Fold, share: number): string {
  const note = (omitted: number) =>
    `\n… ${omitted} more line${omitted === 1 ? "" : "s"} cut to fit GitHub's comment limit; the full plan is in the ${fold.artifact ? `\`${fold.artifact}\` artifact` : "workflow run's artifacts"}.`;
  const lines = fold.body.split("\n");
  const room = share - note(lines.length).length;
  let used = 0;
  let kept = 0;
  while (kept < lines.length && used + lines[kept].length + 1 <= room) {
    used += lines[kept].length + 1;
    kept++;
  }
  return `${lines.slice(0, kept).join("\n")}${note(lines.length - kept)}`;
}

function hardCut(text: string, maxLength: number): string {
  const note = "\n\n… cut to fit GitHub's comment limit.\n";
  return text.slice(0, maxLength - note.length) + note;
}

function longestBacktickRun(text: string): number {
  let longest = 0;
  for (const run of text.match(/`+/g) ?? []) longest = Math.max(longest, run.length);
  return longest;
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

// ---------------------------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------------------------

/** Reads every `report.json` under `dir` (one per environment), in the config's promotion order. */
export function readReports(dir: string): EnvironmentReport[] {
  const found: EnvironmentReport[] = [];
  const walk = (path: string) => {
    for (const entry of readdirSync(path)) {
      const full = join(path, entry);
      if (statSync(full).isDirectory()) walk(full);
      else if (entry === "report.json") found.push(JSON.parse(readFileSync(full, "utf8")) as EnvironmentReport);
    }
  };
  walk(dir);
  const order = environmentNames();
  const rank = (env: string) => (order.indexOf(env) < 0 ? order.length : order.indexOf(env));
  return found.sort((a, b) => rank(a.environment) - rank(b.environment) || a.environment.localeCompare(b.environment));
}

function main(): void {
  const { values } = parseArgs({
    options: { reports: { type: "string" }, out: { type: "string" }, sha: { type: "string" }, "run-url": { type: "string" } },
  });
  if (!values.reports) throw new Error("usage: pr-comment.ts --reports DIR [--out FILE] [--sha SHA] [--run-url URL]");
  const environments = existsSync(values.reports) ? readReports(values.reports) : [];
  const missing = environmentNames().filter((name) => !environments.some((env) => env.environment === name));
  const body = renderComment({ environments, missingEnvironments: missing, commitSha: values.sha, runUrl: values["run-url"] });
  if (values.out) writeFileSync(values.out, body);
  else process.stdout.write(body);
}

if (require.main === module) main();
