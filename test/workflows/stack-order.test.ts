/**
 * The workflows' stack order can never disagree with the app's: they hold no list of stacks, they
 * take the order from `npx tsx scripts/stack-order.ts`, that command prints the app's definition
 * order (which respects every cross-stack dependency), and ci-terraform refuses an order that does not
 * match what was synthesized.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { App } from "cdktf";
import { environmentNames, loadConfig } from "../../config";
import { defineStacks } from "../../main";
import { loadCiStacks, orderProblems, skippedAs } from "../../scripts/ci-terraform";
import { deploymentOrder, orderViolations } from "../../scripts/stack-order";
import { stackDependencies } from "../../scripts/stack-summary";
import { identityRootWithCsrs } from "../support/identity-csrs";
import { readWorkflow, REPO_ROOT, stepsOf, stringsIn, workflowFiles } from "./helpers";
import { scratchDir } from "../support/scratch";

/** Synthesizes the deployable (S3 backend) app of `env`: the same thing the workflows synthesize. */
function synthApp(env: string): { outdir: string; order: string[] } {
  const outdir = scratchDir(`shf-wf-${env}-`);
  const app = new App({ outdir });
  defineStacks(app, { config: loadConfig(env), offline: false, identityRoot: identityRootWithCsrs([env]) });
  app.synth();
  return { outdir, order: deploymentOrder(app) };
}

const apps = new Map(environmentNames().map((env) => [env, synthApp(env)]));
const stackIds = apps.get("dev")!.order;

/** `npx tsx scripts/stack-order.ts`, exactly as the workflows run it. */
function stackOrderCli(env: string): string[] {
  const out = execFileSync("npx", ["tsx", "scripts/stack-order.ts"], { cwd: REPO_ROOT, env: { ...process.env, IOT_ENV: env }, encoding: "utf8" });
  return JSON.parse(out.trim()) as string[];
}

describe("workflows hold no list of stacks", () => {
  const token = (id: string) => new RegExp(`(^|[^\\w-])${id}([^\\w-]|$)`);
  const sources: [string, unknown][] = [
    ...workflowFiles().map((f) => [f, readWorkflow(f)] as [string, unknown]),
    ...[".github/scripts/ssm-deploy-controller.sh", ".github/scripts/upsert-pr-comment.sh"].map(
      (f) => [f, readFileSync(join(REPO_ROOT, f), "utf8")] as [string, unknown],
    ),
  ];

  test.each(sources)("%s names no two stacks together and deploys no stack by name", (_name, source) => {
    for (const { path, text } of stringsIn(source)) {
      const named = stackIds.filter((id) => token(id).test(text));
      expect([path, named.length > 1 ? named : []]).toEqual([path, []]);
      expect([path, /cdktf\s+(deploy|destroy)\s+\w|cdktf\.out\/stacks\/\w|-chdir=/.test(text)]).toEqual([path, false]);
    }
  });

  test.each(workflowFiles())("%s has no YAML list holding two stacks", (file) => {
    const lists: unknown[][] = [];
    const walk = (value: unknown) => {
      if (Array.isArray(value)) lists.push(value);
      if (value && typeof value === "object") Object.values(value).forEach(walk);
    };
    walk(readWorkflow(file));
    for (const list of lists) expect(list.filter((item) => typeof item === "string" && stackIds.includes(item)).length).toBeLessThan(2);
  });

  test.each(workflowFiles())("%s has no matrix over stacks", (file) => {
    for (const job of Object.values(readWorkflow(file).jobs)) {
      const values = stringsIn(job.strategy?.matrix ?? {}).map((s) => s.text);
      expect(values.filter((v) => stackIds.includes(v))).toEqual([]);
    }
  });
});

describe.each([
  ["plan.yml", "plan", "plan"],
  ["terraform-apply.yml", "apply", "apply"],
])("%s", (file, jobId, command) => {
  test(`takes the order from scripts/stack-order.ts and hands it to ci-terraform ${command}`, () => {
    const steps = stepsOf(readWorkflow(file))
      .filter((s) => s.job === jobId)
      .map((s) => s.step);
    const orderIndex = steps.findIndex((s) => s.run?.includes("npx tsx scripts/stack-order.ts"));
    expect(orderIndex).toBeGreaterThanOrEqual(0);
    const orderStep = steps[orderIndex];
    expect(orderStep.id).toBeDefined();
    expect(orderStep.run).toMatch(/>> "\$GITHUB_OUTPUT"/);
    const run = steps.findIndex((s) => s.run?.includes(`scripts/ci-terraform.ts ${command}`));
    expect(run).toBeGreaterThan(orderIndex);
    expect(steps[run].run).toContain('--order "$ORDER"');
    expect(steps[run].env?.ORDER).toBe(`\${{ steps.${orderStep.id}.outputs.stacks }}`);
    // The synth the order is checked against happens before.
    expect(steps.findIndex((s) => s.run === "npm run synth")).toBeLessThan(run);
  });
});

describe.each(environmentNames())("environment %s", (env) => {
  test("scripts/stack-order.ts prints the app's definition order", () => {
    expect(stackOrderCli(env)).toEqual(apps.get(env)!.order);
  });

  test("that order puts every stack after the stacks whose outputs it reads", () => {
    const { outdir, order } = apps.get(env)!;
    const dependencies = stackDependencies(outdir);
    expect(Object.values(dependencies).some((deps) => deps.length > 0)).toBe(true);
    expect(orderViolations(order, dependencies)).toEqual([]);
    expect(orderProblems(order, Object.keys(dependencies), dependencies)).toEqual([]);
  });

  test("ci-terraform accepts it and finds the bootstrap stack by its local backend", () => {
    const { outdir, order } = apps.get(env)!;
    const stacks = loadCiStacks(outdir, order);
    expect(stacks.map((s) => s.id)).toEqual(order);
    expect(stacks.filter((s) => s.localBackend).map((s) => s.id)).toEqual(["state"]);
  });

  test("GIVEN the synthesized app THEN ci-terraform skips exactly state and ci, the stacks an administrator applies", () => {
    const { outdir, order } = apps.get(env)!;
    const stacks = loadCiStacks(outdir, order);
    expect(stacks.filter((s) => skippedAs(s)).map((s) => [s.id, skippedAs(s)])).toEqual([
      ["state", "bootstrap"],
      ["ci", "administrator"],
    ]);
    // The ci stack keeps its state in the S3 backend like the others: only CI leaves it alone.
    expect(stacks.find((s) => s.id === "ci")!.localBackend).toBe(false);
  });
});

describe("ci-terraform refuses an order that disagrees with the synthesized app", () => {
  const { outdir, order } = apps.get("dev")!;

  test("fails when a stack would run before one it reads from", () => {
    const swapped = [...order];
    const ec2 = swapped.indexOf("ec2");
    const vpc = swapped.indexOf("vpc");
    [swapped[ec2], swapped[vpc]] = [swapped[vpc], swapped[ec2]];
    expect(() => loadCiStacks(outdir, swapped)).toThrow(/ec2 depends on vpc, which is deployed after it/);
  });

  test("fails when a synthesized stack is missing from the order", () => {
    expect(() => loadCiStacks(outdir, order.slice(0, -1))).toThrow(/synthesized but not in the order: /);
  });

  test("fails when the order names a stack that was not synthesized", () => {
    expect(() => loadCiStacks(outdir, [...order, "not-a-stack"])).toThrow(/in the order but not synthesized: not-a-stack/);
  });
});
