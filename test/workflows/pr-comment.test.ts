/**
 * The PR plan comment, rendered from REAL `terraform show -json` output: the offline plan of the vpc
 * stack (real Terraform, real hashicorp/aws provider), plus copies of it edited to hold updates,
 * deletes, replacements and no changes at all.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkStack, StackCheck, terraform, writeCliConfig } from "../../scripts/terraform-harness";
import {
  COMMENT_MARKER,
  diffHighlight,
  EnvironmentReport,
  GITHUB_COMMENT_LIMIT,
  readReports,
  renderComment,
  StackReport,
  summarizePlan,
  TerraformShowJson,
} from "../../scripts/pr-comment";
import { synthOfflineApp } from "../support/offline-app";
import { scratchDir } from "../support/scratch";

let real: StackCheck;
let realText: string;
let plan: TerraformShowJson;

beforeAll(
  async () => {
    const { outdir } = synthOfflineApp("dev");
    const cliConfig = writeCliConfig(join(outdir, ".terraform-cli"));
    const dir = join(outdir, "stacks", "vpc");
    real = await checkStack(dir, "vpc", cliConfig);
    if (real.failure) throw new Error(`offline plan of vpc failed at ${real.failure.step}: ${real.failure.message}`);
    realText = (await terraform(dir, ["show", "-no-color", "plan.tfplan"], cliConfig)).stdout;
    plan = real.planJson as TerraformShowJson;
  },
  5 * 60 * 1000,
);

/** A copy of the real plan (managed resources) with chosen actions on its first resources and every other one a no-op. */
function edited(actions: readonly (readonly string[])[], extra: (copy: Record<string, any>) => void = () => undefined): TerraformShowJson {
  const copy = JSON.parse(JSON.stringify(plan)) as Record<string, any>;
  copy.resource_changes = copy.resource_changes.filter((rc: any) => rc.mode === "managed");
  copy.resource_changes.forEach((rc: any, i: number) => {
    rc.change.actions = actions[i] ?? ["no-op"];
  });
  for (const output of Object.values(copy.output_changes ?? {}) as any[]) output.actions = ["no-op"];
  extra(copy);
  return copy as TerraformShowJson;
}

const report = (stacks: StackReport[], environment = "dev"): EnvironmentReport => ({ environment, stacks, artifact: `terraform-plan-${environment}` });
const planned = (stack: string, json: TerraformShowJson, planText?: string): StackReport => ({
  stack,
  status: "planned",
  summary: summarizePlan(json),
  ...(planText !== undefined ? { planText } : {}),
});
const rowOf = (comment: string, stack: string) => comment.split("\n").find((line) => line.includes(`| \`${stack}\` |`))!;

describe("summarizePlan on real terraform show -json", () => {
  test("counts what Terraform counts", () => {
    const summary = summarizePlan(plan);
    // Terraform's own summary line of the same plan.
    const [, add, change, destroy] = /Plan: (\d+) to add, (\d+) to change, (\d+) to destroy/.exec(real.plan!.stdout)!.map(Number);
    expect(summary).toMatchObject({ add, change, destroy, replace: 0 });
    expect(change).toBe(0);
    expect(summary.add).toBeGreaterThan(3);
    expect(summary.resources.every((r) => r.action === "create")).toBe(true);
  });

  test("keeps addresses and actions only, never attribute values", () => {
    const marked = edited([["update"]], (copy) => {
      copy.resource_changes[0].change.after = { secret_string: "SECRET-VALUE-123" };
    });
    const summary = summarizePlan(marked);
    expect(JSON.stringify(summary)).not.toContain("SECRET-VALUE-123");
    expect(renderComment({ environments: [report([planned("vpc", marked)])] })).not.toContain("SECRET-VALUE-123");
  });
});

describe("renderComment", () => {
  test("starts with the hidden marker and has one row per stack in the given order, with the counts", () => {
    const summary = summarizePlan(plan);
    const comment = renderComment({
      environments: [report([{ stack: "state", status: "bootstrap" }, planned("vpc", plan, realText)])],
      commitSha: "0123456789abcdef0123456789abcdef01234567",
      runUrl: "https://github.com/smart-home/smart-home-fleet-iac/actions/runs/1",
    });
    expect(comment.split("\n")[0]).toBe(COMMENT_MARKER);
    expect(comment).toContain("commit `0123456789ab`");
    expect(comment.indexOf("| `state` |")).toBeLessThan(comment.indexOf("| `vpc` |"));
    expect(rowOf(comment, "vpc")).toBe(`| 2 | \`vpc\` | ${summary.add} | 0 | 0 | 📝 changes |`);
    expect(rowOf(comment, "state")).toContain("bootstrap stack");
  });

  test("GIVEN the ci stack, skipped by CI THEN its row says an administrator applies it and nothing is folded for it", () => {
    const comment = renderComment({ environments: [report([{ stack: "ci", status: "administrator" }, planned("vpc", plan, realText)])] });
    expect(rowOf(comment, "ci")).toContain("🔐 CI identities: applied by an administrator by hand, not planned in CI");
    expect(comment).not.toContain("dev · ci");
  });

  test("folds each full plan under its row, coloured as a diff", () => {
    const comment = renderComment({ environments: [report([planned("vpc", plan, realText)])] });
    expect(comment).toMatch(/<details><summary>dev · vpc — \d+ to add, 0 to change, 0 to destroy<\/summary>\n\n```diff\n/);
    const firstResource = realText.split("\n").find((l) => /^\s+\+ resource "/.test(l))!;
    expect(comment).toContain(`+${firstResource.replace(/^(\s+)\+/, "$1")}`);
    expect(comment).toContain("</details>");
  });

  test("calls out destroys and replacements with a warning, naming what forces the replacement", () => {
    const json = edited([["update"], ["delete"], ["delete", "create"]], (copy) => {
      copy.resource_changes[2].change.replace_paths = [["cidr_block"]];
    });
    const [updated, deleted, replaced] = json.resource_changes!;
    const comment = renderComment({ environments: [report([planned("vpc", json)])] });
    expect(summarizePlan(json)).toMatchObject({ add: 1, change: 1, destroy: 2, replace: 1 });
    expect(rowOf(comment, "vpc")).toBe("| 1 | `vpc` | 1 | 1 | 2 | ⚠️ **replaces 1**, **destroys 1** |");
    expect(comment).toContain("> [!WARNING]");
    expect(comment).toContain(`> - \`vpc\`: **destroys** \`${deleted.address}\``);
    expect(comment).toContain(`> - \`vpc\`: **replaces** \`${replaced.address}\` (forced by \`cidr_block\`)`);
    expect(comment).not.toContain(`\`${updated.address}\`\n`);
    expect(comment).toContain("⚠️ **1 stack destroying or replacing resources**");
  });

  test("says no changes where a plan has none", () => {
    const json = edited([]);
    const comment = renderComment({ environments: [report([planned("vpc", json, "No changes. Your infrastructure matches the configuration.\n")])] });
    expect(rowOf(comment, "vpc")).toBe("| 1 | `vpc` | 0 | 0 | 0 | ✅ no changes |");
    expect(comment).toContain("<details><summary>dev · vpc — no changes</summary>");
    expect(comment).toContain("0 stacks with changes");
    expect(comment).not.toContain("[!WARNING]");
  });

  test("counts output-only changes as changes", () => {
    const json = edited([], (copy) => {
      copy.output_changes = { "vpc-id": { actions: ["update"] } };
    });
    expect(rowOf(renderComment({ environments: [report([planned("vpc", json)])] }), "vpc")).toBe("| 1 | `vpc` | 0 | 0 | 0 | 📝 outputs only |");
  });

  test("shows failures, and failures that wait for an earlier stack's apply, differently", () => {
    const comment = renderComment({
      environments: [
        report([
          planned("roles", plan),
          { stack: "iot", status: "failed", error: { step: "plan", message: "Error: Unsupported attribute" }, blockedBy: ["roles"] },
          { stack: "api", status: "failed", error: { step: "init", message: "Error: Failed to get existing workspaces" } },
        ]),
      ],
    });
    expect(rowOf(comment, "iot")).toContain("⏳ plan failed; it reads outputs of `roles`");
    expect(rowOf(comment, "api")).toContain("❌ **plan failed** at `init`");
    expect(comment).toContain("<details><summary>dev · api — plan failed at init</summary>\n\n```text\nError: Failed to get existing workspaces");
    expect(comment).toContain("❌ **1 failed**");
  });

  test("renders every environment in its own section and names environments that were not planned", () => {
    const comment = renderComment({ environments: [report([planned("vpc", plan)], "dev")], missingEnvironments: ["prod"] });
    expect(comment).toContain("### `dev`");
    expect(comment).toContain("`prod`: no plan.");
  });

  test("stays within GitHub's 65536-character limit, keeping every row and cutting long plans with a pointer to the artifact", () => {
    const huge = `${realText}\n`.repeat(Math.ceil(200_000 / realText.length));
    const stacks = ["vpc", "roles", "ecr", "ec2", "iot", "fleet"].map((s) => planned(s, plan, huge));
    const small = planned("api", edited([]), "No changes.");
    const comment = renderComment({ environments: [report([...stacks, small]), report(stacks, "prod")] });
    expect(comment.length).toBeLessThanOrEqual(GITHUB_COMMENT_LIMIT);
    for (const s of [...stacks, small]) expect(rowOf(comment, s.stack)).toBeDefined();
    expect(comment).toContain("cut to fit GitHub's comment limit; the full plan is in the `terraform-plan-dev` artifact");
    expect(comment).toContain("cut to fit GitHub's comment limit; the full plan is in the `terraform-plan-prod` artifact");
    expect(comment.match(/<details>/g)!.length).toBe(comment.match(/<\/details>/g)!.length);
    expect(comment).toContain("```diff\nNo changes.\n```"); // short plans stay whole
    expect(comment.length).toBeGreaterThan(GITHUB_COMMENT_LIMIT * 0.9); // and the room is used
  });

  test("uses a longer code fence when a plan itself contains backticks", () => {
    const comment = renderComment({ environments: [report([planned("vpc", plan, 'description = "use ``` here"')])] });
    expect(comment).toContain('````diff\ndescription = "use ``` here"\n````');
  });
});

test("diffHighlight moves Terraform's action symbols to the first column", () => {
  expect(diffHighlight('  + resource "a" "b" {\n      ~ tags = {}\n  -/+ resource "c" "d" {\n      - old = 1\n    # comment')).toBe(
    '+   resource "a" "b" {\n!       tags = {}\n!  -/+ resource "c" "d" {\n-       old = 1\n    # comment',
  );
});

test("readReports returns environments in promotion order (dev before prod)", () => {
  const dir = scratchDir("shf-reports-");
  for (const env of ["prod", "dev"]) {
    mkdirSync(join(dir, `terraform-plan-${env}`));
    writeFileSync(join(dir, `terraform-plan-${env}`, "report.json"), JSON.stringify(report([], env)));
  }
  expect(readReports(dir).map((r) => r.environment)).toEqual(["dev", "prod"]);
});
