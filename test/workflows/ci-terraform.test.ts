/**
 * The plan/apply driver with a scripted Terraform: which stacks it plans and applies, in what order,
 * when it stops, and what it reports. (The real CLI is exercised in pr-comment.test.ts and
 * test/terraform/; here no AWS account is needed.)
 */
import { applyAll, applySucceeded, CiStack, planAll, planFailed, renderApplySummary, TerraformResult, TerraformRunner } from "../../scripts/ci-terraform";

const stack = (id: string, dependencies: string[] = [], localBackend = false, administered = false): CiStack => ({
  id,
  dir: `/synth/stacks/${id}`,
  localBackend,
  administered,
  dependencies,
});
const STACKS = [stack("state", [], true), stack("vpc"), stack("roles"), stack("ecr"), stack("ec2", ["vpc", "roles", "ecr"]), stack("iot", ["roles"])];
const WITH_CI = [STACKS[0], stack("ci", [], false, true), ...STACKS.slice(1)];

const showJson = (actions: string[][]) =>
  JSON.stringify({ resource_changes: actions.map((a, i) => ({ address: `aws_thing.r${i}`, mode: "managed", change: { actions: a } })) });

/** Terraform that answers per stack: plan exit codes, apply failures, show output. */
function fakeTerraform(script: { planCode?: Record<string, number>; failApply?: string[]; failInit?: string[]; actions?: Record<string, string[][]> }) {
  const calls: string[] = [];
  const runner: TerraformRunner = async (dir, args) => {
    const id = dir.split("/").pop()!;
    calls.push(`${id} ${args[0]}${args[0] === "show" ? ` ${args[1]}` : ""}`);
    const ok = (stdout = ""): TerraformResult => ({ code: 0, stdout, stderr: "" });
    switch (args[0]) {
      case "init":
        return script.failInit?.includes(id) ? { code: 1, stdout: "", stderr: `Error: init ${id}` } : ok();
      case "plan": {
        const code = script.planCode?.[id] ?? 0;
        return { code, stdout: `plan ${id}`, stderr: code === 1 ? `Error: plan ${id}\nUnsupported attribute` : "" };
      }
      case "show":
        // Like Terraform: a plan that exited 0 has only no-op actions.
        return args[1] === "-json"
          ? ok(showJson(script.planCode?.[id] === 2 ? (script.actions?.[id] ?? [["create"]]) : [["no-op"]]))
          : ok(`  + resource "aws_thing" "${id}" {}`);
      case "apply":
        return script.failApply?.includes(id) ? { code: 1, stdout: "", stderr: `Error: creating ${id}: AccessDenied` } : ok("Apply complete!");
      default:
        throw new Error(`unexpected terraform ${args.join(" ")}`);
    }
  };
  return { runner, calls };
}

describe("apply", () => {
  test("applies only stacks whose fresh plan has changes, in deployment order, skipping the bootstrap stack", async () => {
    const { runner, calls } = fakeTerraform({ planCode: { roles: 2, ec2: 2 } });
    const results = await applyAll(STACKS, runner);
    expect(results.map((r) => [r.stack, r.outcome])).toEqual([
      ["state", "bootstrap"],
      ["vpc", "unchanged"],
      ["roles", "applied"],
      ["ecr", "unchanged"],
      ["ec2", "applied"],
      ["iot", "unchanged"],
    ]);
    expect(calls.filter((c) => c.endsWith(" apply"))).toEqual(["roles apply", "ec2 apply"]);
    // Each stack is planned only after the stack before it is done.
    expect(calls.filter((c) => c.endsWith(" plan"))).toEqual(["vpc plan", "roles plan", "ecr plan", "ec2 plan", "iot plan"]);
    expect(calls.indexOf("roles apply")).toBeLessThan(calls.indexOf("ecr plan"));
    expect(applySucceeded(results)).toBe(true);
  });

  test("fails when a stack's apply fails: the chain stops there and the summary names the stack", async () => {
    const { runner, calls } = fakeTerraform({ planCode: { vpc: 2, roles: 2, ec2: 2 }, failApply: ["roles"] });
    const results = await applyAll(STACKS, runner);
    expect(results.map((r) => r.outcome)).toEqual(["bootstrap", "applied", "failed", "not-run", "not-run", "not-run"]);
    expect(calls.some((c) => c.startsWith("ecr ") || c.startsWith("ec2 ") || c.startsWith("iot "))).toBe(false);
    expect(applySucceeded(results)).toBe(false);
    const summary = renderApplySummary("dev", results);
    expect(summary).toContain("| 3 | `roles` | ❌ **failed** at `terraform apply` |");
    expect(summary).toContain("| 4 | `ecr` | ⏭ not run (`roles` failed before it) |");
    expect(summary).toContain("**Stopped at `roles`** (`terraform apply` failed)");
    expect(summary).toContain("Error: creating roles: AccessDenied");
  });

  test("fails when a plan errors, without applying anything after it", async () => {
    const { runner, calls } = fakeTerraform({ planCode: { ecr: 1 } });
    const results = await applyAll(STACKS, runner);
    expect(results.find((r) => r.stack === "ecr")).toMatchObject({ outcome: "failed", error: { step: "plan" } });
    expect(calls.filter((c) => c.endsWith(" apply"))).toEqual([]);
    expect(renderApplySummary("prod", results)).toContain("## Terraform apply: `prod`");
  });

  test("reports what each applied stack changed", async () => {
    const { runner } = fakeTerraform({ planCode: { vpc: 2 }, actions: { vpc: [["create"], ["update"], ["delete", "create"]] } });
    const results = await applyAll(STACKS, runner);
    expect(renderApplySummary("dev", results)).toContain("| 2 | `vpc` | ✅ applied: 2 added, 1 changed, 1 destroyed |");
    expect(renderApplySummary("dev", results)).toContain("All stacks of `dev` are up to date.");
  });
});

describe("stacks an administrator applies", () => {
  test("GIVEN the ci stack WHEN CI applies THEN it never runs terraform there and says why", async () => {
    const { runner, calls } = fakeTerraform({ planCode: { ci: 2, vpc: 2 } });
    const results = await applyAll(WITH_CI, runner);
    expect(results.slice(0, 3).map((r) => [r.stack, r.outcome])).toEqual([
      ["state", "bootstrap"],
      ["ci", "administrator"],
      ["vpc", "applied"],
    ]);
    expect(calls.filter((c) => c.startsWith("ci "))).toEqual([]);
    expect(renderApplySummary("dev", results)).toContain("| 2 | `ci` | 🔐 CI identities: applied by an administrator by hand, never by CI |");
  });

  test("GIVEN the ci stack WHEN CI plans THEN it never runs terraform there", async () => {
    const { runner, calls } = fakeTerraform({});
    const report = await planAll("dev", WITH_CI, runner);
    expect(report.stacks.slice(0, 2).map((s) => [s.stack, s.status])).toEqual([
      ["state", "bootstrap"],
      ["ci", "administrator"],
    ]);
    expect(calls.filter((c) => c.startsWith("ci "))).toEqual([]);
  });
});

describe("plan", () => {
  test("plans every stack but the bootstrap one, read-only (no lock), and keeps the report in order", async () => {
    const { runner, calls } = fakeTerraform({ planCode: { vpc: 2 } });
    const report = await planAll("dev", STACKS, runner, "terraform-plan-dev");
    expect(report.stacks.map((s) => [s.stack, s.status])).toEqual([
      ["state", "bootstrap"],
      ["vpc", "planned"],
      ["roles", "planned"],
      ["ecr", "planned"],
      ["ec2", "planned"],
      ["iot", "planned"],
    ]);
    expect(report.artifact).toBe("terraform-plan-dev");
    expect(report.stacks[1].planText).toContain('resource "aws_thing" "vpc"');
    expect(calls.filter((c) => c.endsWith(" apply"))).toEqual([]);
    expect(planFailed(report)).toBe(false);
  });

  test("keeps planning after a failure and fails the check for it", async () => {
    const { runner } = fakeTerraform({ failInit: ["ecr"] });
    const report = await planAll("dev", STACKS, runner);
    expect(report.stacks.map((s) => s.status)).toEqual(["bootstrap", "planned", "planned", "failed", "planned", "planned"]);
    expect(report.stacks[3].error).toEqual({ step: "init", message: "Error: init ecr" });
    expect(planFailed(report)).toBe(true);
  });

  test("a failure in a stack that reads from a changed stack waits for that apply instead of failing the check", async () => {
    const { runner } = fakeTerraform({ planCode: { roles: 2, ec2: 1 } });
    const report = await planAll("dev", STACKS, runner);
    expect(report.stacks.find((s) => s.stack === "ec2")).toMatchObject({ status: "failed", blockedBy: ["roles"] });
    expect(planFailed(report)).toBe(false);
  });

  test("a failure with no changed stack upstream fails the check", async () => {
    const { runner } = fakeTerraform({ planCode: { iot: 2, ec2: 1 } });
    const report = await planAll("dev", STACKS, runner);
    expect(report.stacks.find((s) => s.stack === "ec2")!.blockedBy).toBeUndefined();
    expect(planFailed(report)).toBe(true);
  });
});
