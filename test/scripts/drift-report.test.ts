/**
 * The drift check's verdict (scripts/drift-report.ts) over plan reports as scripts/ci-terraform.ts
 * writes them: clean only when every expected environment planned every stack with no change.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { DRIFT_ISSUE_TITLE, driftVerdict, readReports } from "../../scripts/drift-report";
import type { EnvironmentReport, PlanSummary } from "../../scripts/pr-comment";
import { scratchDir } from "../support/scratch";

const NO_CHANGES: PlanSummary = { add: 0, change: 0, destroy: 0, replace: 0, forget: 0, outputChanges: 0, resources: [] };
const changed = (address: string): PlanSummary => ({ ...NO_CHANGES, change: 1, resources: [{ address, action: "update" }] });
const env = (environment: string, stacks: EnvironmentReport["stacks"]): EnvironmentReport => ({ environment, stacks });
const clean = (environment: string) =>
  env(environment, [
    { stack: "state", status: "bootstrap" },
    { stack: "iot", status: "planned", summary: NO_CHANGES },
  ]);

test("GIVEN every environment planned with no changes THEN the verdict is clean", () => {
  expect(driftVerdict([clean("dev"), clean("prod")], ["dev", "prod"]).status).toBe("clean");
});

test("GIVEN a security group changed by hand in prod THEN the verdict is drifted and names the stack and resource", () => {
  const prod = env("prod", [{ stack: "vpc", status: "planned", summary: changed("aws_security_group.controller") }]);
  const verdict = driftVerdict([clean("dev"), prod], ["dev", "prod"], "https://github.com/o/r/actions/runs/1");
  expect(verdict.status).toBe("drifted");
  expect(verdict.title).toBe(DRIFT_ISSUE_TITLE);
  expect(verdict.markdown).toContain("**prod/vpc**: 0 to add, 1 to change");
  expect(verdict.markdown).toContain("`aws_security_group.controller` (update)");
  expect(verdict.markdown).toContain("https://github.com/o/r/actions/runs/1");
});

test("GIVEN only an output differs THEN it is drift too", () => {
  const dev = env("dev", [{ stack: "iot", status: "planned", summary: { ...NO_CHANGES, outputChanges: 1 } }]);
  expect(driftVerdict([dev], ["dev"]).status).toBe("drifted");
});

test("fails when a stack's plan failed (drift cannot be ruled out), even if another stack drifted", () => {
  const dev = env("dev", [
    { stack: "iot", status: "failed", error: { step: "plan", message: "AccessDenied" } },
    { stack: "api", status: "planned", summary: changed("aws_api_gateway_stage.registration") },
  ]);
  const verdict = driftVerdict([dev], ["dev"]);
  expect(verdict.status).toBe("failed");
  expect(verdict.markdown).toContain("**dev/iot**: plan failed at plan");
});

test("fails when an expected environment wrote no report", () => {
  const verdict = driftVerdict([clean("dev")], ["dev", "prod"]);
  expect(verdict.status).toBe("failed");
  expect(verdict.markdown).toContain("**prod**: no plan report");
});

test("GIVEN artifacts downloaded per environment WHEN the script runs THEN it writes the text and the step outputs", () => {
  const dir = scratchDir("shf-drift-");
  for (const report of [clean("dev"), env("prod", [{ stack: "ota", status: "planned", summary: changed("aws_s3_bucket_policy.firmware") }])]) {
    mkdirSync(join(dir, "reports", `drift-plan-${report.environment}`), { recursive: true });
    writeFileSync(join(dir, "reports", `drift-plan-${report.environment}`, "report.json"), JSON.stringify(report));
  }
  expect(
    readReports(join(dir, "reports"))
      .map((r) => r.environment)
      .sort(),
  ).toEqual(["dev", "prod"]);
  const outputs = join(dir, "github-output");
  writeFileSync(outputs, "");
  const run = spawnSync(
    process.execPath,
    [require.resolve("tsx/cli"), "scripts/drift-report.ts", "--reports", join(dir, "reports"), "--out", join(dir, "drift.md"), "--expect", "dev,prod"],
    {
      cwd: join(__dirname, "..", ".."),
      env: { ...process.env, GITHUB_OUTPUT: outputs },
      encoding: "utf8",
    },
  );
  expect(run.status).toBe(0);
  expect(readFileSync(outputs, "utf8")).toBe(`status=drifted\ntitle=${DRIFT_ISSUE_TITLE}\n`);
  expect(readFileSync(join(dir, "drift.md"), "utf8")).toContain("**prod/ota**");
});
