/**
 * Every synthesized stack must be valid Terraform for the real hashicorp/aws provider and must plan
 * with no network and no credentials (IOT_OFFLINE mode). This runs the real Terraform CLI.
 */
import { join } from "node:path";
import { checkStack, pinnedAwsProviderVersion, StackCheck, writeCliConfig } from "../../scripts/terraform-harness";
import { mapLimit } from "../../local/scenarios/common";
import { synthOfflineApp } from "../support/offline-app";

const { outdir, stacks } = synthOfflineApp("dev");
const results = new Map<string, StackCheck>();

beforeAll(
  async () => {
    const cliConfig = writeCliConfig(join(outdir, ".terraform-cli"));
    const checks = await mapLimit(stacks, 2, (stack) => checkStack(join(outdir, "stacks", stack), stack, cliConfig));
    for (const check of checks) results.set(check.stack, check);
    // One line per stack in the test output: what the offline plan would do.
    const lines = checks.map(
      (c) =>
        `  ${c.stack.padEnd(10)} ${c.counts ? `plan: ${c.counts.add} to add, ${c.counts.change} to change, ${c.counts.destroy} to destroy` : `FAILED at ${c.failure?.step}`}`,
    );
    process.stdout.write(`\nterraform validate + offline plan (hashicorp/aws ${pinnedAwsProviderVersion()}):\n${lines.join("\n")}\n\n`);
  },
  15 * 60 * 1000,
);

describe.each(stacks)("stack %s", (stack) => {
  test("terraform validate passes", () => {
    const check = results.get(stack)!;
    // WHEN terraform init and validate ran THEN neither failed
    expect(check.failure?.step === "init" || check.failure?.step === "validate" ? check.failure.message : "").toBe("");
    expect(check.validate?.ok).toBe(true);
  });

  test("terraform plan succeeds offline and only creates", () => {
    const check = results.get(stack)!;
    expect(check.failure?.message ?? "").toBe("");
    // A fresh offline plan has no state, so it can only create resources.
    expect(check.counts).toEqual(expect.objectContaining({ change: 0, destroy: 0, replace: 0 }));
    expect(check.counts!.add).toBeGreaterThan(0);
  });
});

test("the app defines stacks in the documented deployment order", () => {
  const documented = ["state", "ci", "vpc", "roles", "ecr", "ec2", "iot", "fleet", "api", "ota", "telemetry", "ops"];
  expect(documented.filter((id) => stacks.includes(id))).toEqual(stacks.filter((id) => documented.includes(id)));
});
