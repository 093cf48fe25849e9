/**
 * Turns the scheduled drift check's plan reports (scripts/ci-terraform.ts plan → report.json per
 * environment) into what the notify job sends: a verdict, a short Markdown text for Slack / a webhook
 * and a GitHub issue, and step outputs.
 *
 *   npx tsx scripts/drift-report.ts --reports drift-reports --out drift.md [--run-url URL] [--expect dev,prod]
 *
 * Writes `status=clean|drifted|failed` (and `title=`) to $GITHUB_OUTPUT. A plan of real state that
 * would change anything means someone changed infrastructure outside Terraform (or a merged change was
 * never applied): either way a person must look. An environment without a report, or a stack whose
 * plan failed, is `failed` — the check could not tell, which is never reported as clean.
 */
import { appendFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { EnvironmentReport, hasChanges } from "./pr-comment";

export type DriftStatus = "clean" | "drifted" | "failed";

export interface DriftVerdict {
  readonly status: DriftStatus;
  /** Issue title, one per repository so that repeated runs update the same issue. */
  readonly title: string;
  readonly markdown: string;
}

export const DRIFT_ISSUE_TITLE = "Infrastructure drift detected";

/** The verdict over every environment's report; `expected` environments without one count as failed. */
export function driftVerdict(reports: readonly EnvironmentReport[], expected: readonly string[], runUrl?: string): DriftVerdict {
  const lines: string[] = [];
  let drifted = false;
  let failed = false;
  for (const env of expected.filter((e) => !reports.some((r) => r.environment === e))) {
    failed = true;
    lines.push(`- **${env}**: no plan report (the drift job failed before planning)`);
  }
  for (const report of reports) {
    for (const stack of report.stacks) {
      if (stack.status === "failed") {
        failed = true;
        lines.push(`- **${report.environment}/${stack.stack}**: plan failed at ${stack.error?.step ?? "an unknown step"}`);
      } else if (stack.summary && hasChanges(stack.summary)) {
        drifted = true;
        const s = stack.summary;
        const addresses = s.resources.slice(0, 10).map((r) => `\`${r.address}\` (${r.action})`);
        const more = s.resources.length > 10 ? `, and ${s.resources.length - 10} more` : "";
        lines.push(
          `- **${report.environment}/${stack.stack}**: ${s.add} to add, ${s.change} to change, ${s.destroy} to destroy, ${s.replace} to replace${addresses.length ? `: ${addresses.join(", ")}${more}` : ""}`,
        );
      }
    }
  }
  const status: DriftStatus = failed ? "failed" : drifted ? "drifted" : "clean";
  const headline = {
    clean: "No drift: every stack's real state matches the code.",
    drifted: "Drift: the real infrastructure differs from the code (a change outside Terraform, or a merge that was never applied).",
    failed: "The drift check could not plan every stack; drift cannot be ruled out.",
  }[status];
  const markdown = [
    `**${DRIFT_ISSUE_TITLE.replace(" detected", " check")}: ${status}.** ${headline}`,
    ...lines,
    ...(runUrl ? [`Plans (text, sensitive values redacted): ${runUrl}`] : []),
    ...(status === "clean" ? [] : ["Fix by applying the code (re-run the apply workflow) or by bringing the manual change into the code."]),
  ].join("\n");
  return { status, title: DRIFT_ISSUE_TITLE, markdown };
}

/** Every `report.json` under `dir` (one folder per environment, as the artifacts download). */
export function readReports(dir: string): EnvironmentReport[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, "report.json")))
    .map((d) => JSON.parse(readFileSync(join(dir, d.name, "report.json"), "utf8")) as EnvironmentReport);
}

function main(): number {
  const { values } = parseArgs({
    options: { reports: { type: "string" }, out: { type: "string" }, "run-url": { type: "string" }, expect: { type: "string" } },
  });
  if (!values.reports || !values.out) throw new Error("usage: drift-report.ts --reports DIR --out FILE [--run-url URL] [--expect dev,prod]");
  const reports = readReports(values.reports);
  const expected = values.expect ? values.expect.split(",").filter(Boolean) : reports.map((r) => r.environment);
  const verdict = driftVerdict(reports, expected, values["run-url"]);
  writeFileSync(values.out, `${verdict.markdown}\n`);
  if (process.env.GITHUB_OUTPUT) appendFileSync(process.env.GITHUB_OUTPUT, `status=${verdict.status}\ntitle=${verdict.title}\n`);
  process.stdout.write(`${verdict.markdown}\n`);
  return 0;
}

if (require.main === module) process.exitCode = main();
