/**
 * Plans or applies every synthesized stack of one environment, strictly in deployment order, with the
 * real Terraform CLI and whatever AWS credentials the job has (the workflows get them through OIDC).
 *
 *   npx tsx scripts/ci-terraform.ts plan  --env dev --order '["state","vpc",...]' [--outdir cdktf.out] [--report-dir DIR]
 *   npx tsx scripts/ci-terraform.ts apply --env dev --order '["state","vpc",...]' [--outdir cdktf.out] [--report-dir DIR]
 *
 * `--order` is the output of `npx tsx scripts/stack-order.ts` (the app's own order); it is checked
 * against the synthesized manifest (same stacks, every dependency earlier) before anything runs.
 * Stacks on a local backend (the `state` bootstrap stack) and stacks marked as administered (the `ci`
 * stack of CI identities, which CI must never be able to change) are reported and skipped.
 *
 * plan:  every stack, `-lock=false` (read-only role, never waits for an apply's lock); writes
 *        report.json (for scripts/pr-comment.ts) and one text plan per stack; exits 1 when a plan failed
 *        for a reason other than an earlier stack's pending change.
 * apply: per stack `plan -detailed-exitcode` against the state as it is now (after the stacks before it
 *        were applied), `apply` of that saved plan only when it has changes; the first failure stops the
 *        chain; a table goes to $GITHUB_STEP_SUMMARY and the failing stack is named in an error annotation.
 */
import { spawn } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { orderViolations } from "./stack-order";
import { stackDependencies } from "./stack-summary";
import { writeCliConfig } from "./terraform-harness";
import { ADMINISTERED_MARKER } from "../stacks/shared/fleet-stack";
import { EnvironmentReport, hasChanges, PlanSummary, StackReport, summarizePlan, TerraformShowJson } from "./pr-comment";

export interface TerraformResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `terraform <args>` in a stack directory. `quiet`: do not echo stdout to the log (JSON plans). */
export type TerraformRunner = (stackDir: string, args: readonly string[], options?: { quiet?: boolean }) => Promise<TerraformResult>;

export interface CiStack {
  readonly id: string;
  readonly dir: string;
  /** On a local backend: CI has no state for it, so it is never planned or applied here. */
  readonly localBackend: boolean;
  /** Applied by an administrator by hand (FleetStack `administered`): never planned or applied here. */
  readonly administered?: boolean;
  /** Stacks it reads outputs from (the manifest's dependencies). */
  readonly dependencies: readonly string[];
}

interface Manifest {
  readonly stacks: Record<string, { readonly name: string; readonly workingDirectory: string; readonly synthesizedStackPath: string }>;
}

/** Problems that make `order` unusable for the synthesized app in `outdir` (empty when it is fine). */
export function orderProblems(
  order: readonly string[],
  manifestStacks: readonly string[],
  dependencies: Readonly<Record<string, readonly string[]>>,
): string[] {
  const problems: string[] = [];
  const missing = manifestStacks.filter((id) => !order.includes(id));
  const unknown = order.filter((id) => !manifestStacks.includes(id));
  const duplicated = order.filter((id, index) => order.indexOf(id) !== index);
  if (missing.length) problems.push(`synthesized but not in the order: ${missing.join(", ")}`);
  if (unknown.length) problems.push(`in the order but not synthesized: ${unknown.join(", ")}`);
  if (duplicated.length) problems.push(`listed twice: ${duplicated.join(", ")}`);
  return [...problems, ...orderViolations(order, dependencies)];
}

/** The synthesized stacks of `outdir` in `order`; throws when the two disagree. */
export function loadCiStacks(outdir: string, order: readonly string[]): CiStack[] {
  const manifestPath = join(outdir, "manifest.json");
  if (!existsSync(manifestPath)) throw new Error(`${manifestPath} not found: synthesize first (npm run synth)`);
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as Manifest;
  const dependencies = stackDependencies(outdir);
  const problems = orderProblems(order, Object.keys(manifest.stacks), dependencies);
  if (problems.length > 0) {
    throw new Error(`the deployment order from scripts/stack-order.ts does not match the synthesized app in ${outdir}:\n  - ${problems.join("\n  - ")}`);
  }
  return order.map((id) => {
    const entry = manifest.stacks[id];
    const tf = JSON.parse(readFileSync(join(outdir, entry.synthesizedStackPath), "utf8")) as {
      terraform?: { backend?: Record<string, unknown> };
      "//"?: Record<string, { appliedBy?: string } | undefined>;
    };
    return {
      id,
      dir: resolve(outdir, entry.workingDirectory),
      localBackend: Object.keys(tf.terraform?.backend ?? { local: {} }).includes("local"),
      administered: tf["//"]?.[ADMINISTERED_MARKER.key]?.appliedBy === ADMINISTERED_MARKER.value.appliedBy,
      dependencies: dependencies[id] ?? [],
    };
  });
}

/** Every stack `stack` reads from, directly or through others. */
function upstreamOf(stack: CiStack, byId: ReadonlyMap<string, CiStack>): Set<string> {
  const seen = new Set<string>();
  const visit = (id: string) => {
    for (const dep of byId.get(id)?.dependencies ?? []) {
      if (!seen.has(dep)) {
        seen.add(dep);
        visit(dep);
      }
    }
  };
  visit(stack.id);
  return seen;
}

/** Why CI neither plans nor applies `stack`, if it does not. */
export function skippedAs(stack: CiStack): "bootstrap" | "administrator" | undefined {
  if (stack.localBackend) return "bootstrap";
  return stack.administered ? "administrator" : undefined;
}

function errorText(result: TerraformResult, maxLines = 60): string {
  const text = (result.stderr.trim() || result.stdout.trim() || `terraform exited with ${result.code}`).split("\n");
  return (text.length > maxLines ? ["…", ...text.slice(-maxLines)] : text).join("\n");
}

// ---------------------------------------------------------------------------------------------
// plan (pull requests)
// ---------------------------------------------------------------------------------------------

export async function planAll(environment: string, stacks: readonly CiStack[], terraform: TerraformRunner, artifact?: string): Promise<EnvironmentReport> {
  const reports: StackReport[] = [];
  for (const stack of stacks) {
    const skipped = skippedAs(stack);
    if (skipped) {
      reports.push({ stack: stack.id, status: skipped });
      continue;
    }
    reports.push(await planOne(stack, terraform));
  }
  // A stack that failed while a stack it reads from changes here: most likely it reads an output that
  // only exists after that apply. Report it as waiting rather than broken.
  const byId = new Map(stacks.map((s) => [s.id, s]));
  const changed = new Set(reports.filter((r) => r.summary && hasChanges(r.summary)).map((r) => r.stack));
  const classified = reports.map((report): StackReport => {
    if (report.status !== "failed" || report.error?.step === "init") return report;
    const blockedBy = [...upstreamOf(byId.get(report.stack)!, byId)].filter((id) => changed.has(id));
    return blockedBy.length ? { ...report, blockedBy: stacks.map((s) => s.id).filter((id) => blockedBy.includes(id)) } : report;
  });
  return { environment, stacks: classified, ...(artifact ? { artifact } : {}) };
}

async function planOne(stack: CiStack, terraform: TerraformRunner): Promise<StackReport> {
  const init = await terraform(stack.dir, ["init", "-input=false", "-no-color"]);
  if (init.code !== 0) return { stack: stack.id, status: "failed", error: { step: "init", message: errorText(init) } };
  const plan = await terraform(stack.dir, ["plan", "-input=false", "-no-color", "-lock=false", "-detailed-exitcode", "-out=tfplan"]);
  if (plan.code !== 0 && plan.code !== 2) return { stack: stack.id, status: "failed", error: { step: "plan", message: errorText(plan) } };
  const { summary, text, failure } = await showPlan(stack, terraform);
  if (failure) return { stack: stack.id, status: "failed", error: { step: "show", message: failure } };
  return { stack: stack.id, status: "planned", summary, planText: text };
}

/** Summary (from `show -json`, never logged) and redacted text (`show`) of the saved plan. */
async function showPlan(stack: CiStack, terraform: TerraformRunner): Promise<{ summary?: PlanSummary; text?: string; failure?: string }> {
  const json = await terraform(stack.dir, ["show", "-json", "tfplan"], { quiet: true });
  if (json.code !== 0) return { failure: errorText(json) };
  const text = await terraform(stack.dir, ["show", "-no-color", "tfplan"], { quiet: true });
  if (text.code !== 0) return { failure: errorText(text) };
  return { summary: summarizePlan(JSON.parse(json.stdout) as TerraformShowJson), text: text.stdout };
}

/** True when the check should fail: a plan failed and no pending upstream change explains it. */
export function planFailed(report: EnvironmentReport): boolean {
  return report.stacks.some((s) => s.status === "failed" && !s.blockedBy?.length);
}

// ---------------------------------------------------------------------------------------------
// apply (pushes to main)
// ---------------------------------------------------------------------------------------------

export type ApplyOutcome = "applied" | "unchanged" | "failed" | "not-run" | "bootstrap" | "administrator";

export interface ApplyResult {
  readonly stack: string;
  readonly outcome: ApplyOutcome;
  readonly summary?: PlanSummary;
  readonly planText?: string;
  readonly error?: { readonly step: string; readonly message: string };
}

export async function applyAll(stacks: readonly CiStack[], terraform: TerraformRunner): Promise<ApplyResult[]> {
  const results: ApplyResult[] = [];
  let stopped = false;
  for (const stack of stacks) {
    const skipped = skippedAs(stack);
    if (skipped) results.push({ stack: stack.id, outcome: skipped });
    else if (stopped) results.push({ stack: stack.id, outcome: "not-run" });
    else {
      const result = await applyOne(stack, terraform);
      results.push(result);
      stopped = result.outcome === "failed";
    }
  }
  return results;
}

async function applyOne(stack: CiStack, terraform: TerraformRunner): Promise<ApplyResult> {
  const failed = (step: string, result: TerraformResult, extra: Partial<ApplyResult> = {}): ApplyResult => ({
    stack: stack.id,
    outcome: "failed",
    error: { step, message: errorText(result) },
    ...extra,
  });
  const init = await terraform(stack.dir, ["init", "-input=false", "-no-color"]);
  if (init.code !== 0) return failed("init", init);
  const plan = await terraform(stack.dir, ["plan", "-input=false", "-no-color", "-lock-timeout=10m", "-detailed-exitcode", "-out=tfplan"]);
  if (plan.code === 0) return { stack: stack.id, outcome: "unchanged" };
  if (plan.code !== 2) return failed("plan", plan);
  const shown = await showPlan(stack, terraform);
  const apply = await terraform(stack.dir, ["apply", "-input=false", "-no-color", "-lock-timeout=10m", "tfplan"]);
  const extra = { ...(shown.summary ? { summary: shown.summary } : {}), ...(shown.text ? { planText: shown.text } : {}) };
  if (apply.code !== 0) return failed("apply", apply, extra);
  return { stack: stack.id, outcome: "applied", ...extra };
}

export function applySucceeded(results: readonly ApplyResult[]): boolean {
  return !results.some((r) => r.outcome === "failed");
}

/** Markdown for $GITHUB_STEP_SUMMARY: one row per stack, and which stack stopped the chain. */
export function renderApplySummary(environment: string, results: readonly ApplyResult[]): string {
  const failedAt = results.find((r) => r.outcome === "failed");
  const lines = [`## Terraform apply: \`${environment}\``, "", "| # | Stack | Result |", "|---:|---|---|"];
  results.forEach((r, index) => {
    const counts = r.summary ? `${r.summary.add} added, ${r.summary.change} changed, ${r.summary.destroy} destroyed` : "";
    const text: Record<ApplyOutcome, string> = {
      applied: `✅ applied${counts ? `: ${counts}` : ""}`,
      unchanged: "➖ no changes",
      failed: `❌ **failed** at \`terraform ${r.error?.step ?? "apply"}\``,
      "not-run": `⏭ not run (\`${failedAt?.stack}\` failed before it)`,
      bootstrap: "🔧 bootstrap stack (local state): applied by hand",
      administrator: "🔐 CI identities: applied by an administrator by hand, never by CI",
    };
    lines.push(`| ${index + 1} | \`${r.stack}\` | ${text[r.outcome]} |`);
  });
  if (failedAt) {
    lines.push(
      "",
      `**Stopped at \`${failedAt.stack}\`** (\`terraform ${failedAt.error?.step}\` failed); the stacks after it were not touched.`,
      "",
      "```text",
      failedAt.error?.message ?? "",
      "```",
    );
  } else {
    lines.push("", `All stacks of \`${environment}\` are up to date.`);
  }
  return `${lines.join("\n")}\n`;
}

// ---------------------------------------------------------------------------------------------
// Terraform through a child process
// ---------------------------------------------------------------------------------------------

/**
 * The real runner: inherits the job's environment (AWS credentials from OIDC), adds Terraform's
 * automation settings and a CLI config with a shared plugin cache, and streams output into the log in
 * a collapsible group (except `quiet` runs such as `show -json`, which holds unredacted values).
 */
export function terraformProcess(cliConfigFile: string): TerraformRunner {
  return (stackDir, args, options = {}) =>
    new Promise((resolvePromise, reject) => {
      const title = `terraform ${args[0]} (${stackDir.split("/").pop()})`;
      if (!options.quiet) process.stdout.write(`::group::${title}\n`);
      const child = spawn("terraform", [...args], {
        cwd: stackDir,
        env: { ...process.env, TF_CLI_CONFIG_FILE: cliConfigFile, TF_IN_AUTOMATION: "1", TF_INPUT: "0", CHECKPOINT_DISABLE: "1" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on("data", (chunk: Buffer) => {
        out.push(chunk);
        if (!options.quiet) process.stdout.write(chunk);
      });
      child.stderr.on("data", (chunk: Buffer) => {
        err.push(chunk);
        process.stderr.write(chunk);
      });
      child.on("error", reject);
      child.on("close", (code) => {
        if (!options.quiet) process.stdout.write("::endgroup::\n");
        resolvePromise({ code: code ?? 1, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") });
      });
    });
}

function parseOrder(raw: string | undefined): string[] {
  if (!raw) throw new Error("--order is required: pass the output of `npx tsx scripts/stack-order.ts`");
  const order = JSON.parse(raw) as unknown;
  if (!Array.isArray(order) || order.some((id) => typeof id !== "string")) throw new Error(`--order must be a JSON array of stack ids, got ${raw}`);
  return order as string[];
}

function writePlanFiles(reportDir: string, results: readonly { stack: string; planText?: string }[]): void {
  for (const r of results) if (r.planText !== undefined) writeFileSync(join(reportDir, `${r.stack}.plan.txt`), r.planText);
}

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      env: { type: "string" },
      order: { type: "string" },
      outdir: { type: "string", default: "cdktf.out" },
      "report-dir": { type: "string" },
      artifact: { type: "string" },
    },
  });
  const command = positionals[0];
  if ((command !== "plan" && command !== "apply") || !values.env) {
    throw new Error("usage: ci-terraform.ts <plan|apply> --env NAME --order JSON [--outdir cdktf.out] [--report-dir DIR] [--artifact NAME]");
  }
  const environment = values.env;
  const stacks = loadCiStacks(values.outdir!, parseOrder(values.order));
  const reportDir = values["report-dir"] ?? join("terraform-reports", environment);
  mkdirSync(reportDir, { recursive: true });
  const terraform = terraformProcess(writeCliConfig(resolve(values.outdir!, ".terraform-cli")));
  console.log(`${command} ${environment}: ${stacks.map((s) => (skippedAs(s) ? `${s.id} (${skippedAs(s)}, skipped)` : s.id)).join(" -> ")}`);

  if (command === "plan") {
    const report = await planAll(environment, stacks, terraform, values.artifact);
    writeFileSync(join(reportDir, "report.json"), JSON.stringify(report, null, 2));
    writePlanFiles(reportDir, report.stacks);
    for (const s of report.stacks.filter((s) => s.status === "failed")) {
      const how = s.blockedBy?.length ? "warning" : "error";
      console.log(
        `::${how} title=terraform ${s.error?.step} failed::${environment}/${s.stack}${s.blockedBy?.length ? ` (waits for ${s.blockedBy.join(", ")})` : ""}`,
      );
    }
    return planFailed(report) ? 1 : 0;
  }

  const results = await applyAll(stacks, terraform);
  writeFileSync(
    join(reportDir, "apply.json"),
    JSON.stringify(
      results.map(({ planText: _omit, ...rest }) => rest),
      null,
      2,
    ),
  );
  writePlanFiles(reportDir, results);
  const summary = renderApplySummary(environment, results);
  if (process.env.GITHUB_STEP_SUMMARY) appendFileSync(process.env.GITHUB_STEP_SUMMARY, summary);
  process.stdout.write(summary);
  const failed = results.find((r) => r.outcome === "failed");
  if (failed)
    console.log(
      `::error title=Terraform apply stopped at ${environment}/${failed.stack}::terraform ${failed.error?.step} failed for ${failed.stack}; later stacks were not applied`,
    );
  return applySucceeded(results) ? 0 : 1;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : String(error));
      process.exit(2);
    },
  );
}
