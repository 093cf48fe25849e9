/**
 * The gate as synth runs it: an Aspect on every stack that fails `app.synth()` with a message naming
 * the stack, the Terraform address, the rule, why and the fix; suppressions with reasons; and the
 * real app (dev and prod) passing with zero violations. Replaces test/security-invariants.test.ts,
 * whose checks are rules of the pack now.
 */
import { App, TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { DynamodbTable } from "@cdktf/provider-aws/lib/dynamodb-table";
import { NatGateway } from "@cdktf/provider-aws/lib/nat-gateway";
import { PolicyGate, formatSummary } from "../../modules/policy-gate/policy-gate";
import { scratchDir } from "../support/scratch";
import { loadConfig } from "../../config";
import { defineStacks } from "../../main";

class GatedStack extends TerraformStack {
  readonly table: DynamodbTable;
  readonly nat: NatGateway;
  constructor(scope: Construct, id: string) {
    super(scope, id);
    PolicyGate.applyTo(this);
    new AwsProvider(this, "aws", { region: "eu-west-1" });
    this.table = new DynamodbTable(this, "registry", {
      name: "registry",
      hashKey: "id",
      attribute: [{ name: "id", type: "S" }],
      billingMode: "PAY_PER_REQUEST",
      pointInTimeRecovery: { enabled: true },
      serverSideEncryption: { enabled: true },
    });
    this.nat = new NatGateway(this, "nat", { subnetId: "subnet-1" });
  }
}

function synth(build: (stack: GatedStack) => void = () => undefined): { app: App; error?: Error } {
  const app = new App({ outdir: scratchDir("shf-gate-") });
  build(new GatedStack(app, "gated"));
  try {
    app.synth();
    return { app };
  } catch (error) {
    return { app, error: error as Error };
  }
}

test("fails synth with the stack, Terraform address, rule, why and fix of a violation", () => {
  const { error } = synth();
  expect(error?.message).toContain("policy gate: gated aws_nat_gateway.nat violates COST-NO-NAT-GATEWAY");
  expect(error?.message).toContain("Why: a NAT gateway costs");
  expect(error?.message).toContain("Fix: use public subnets");
  expect(error?.message).toContain('PolicyGate.suppress(<construct>, "COST-NO-NAT-GATEWAY", "<reason>")');
});

test("sees tokens resolved: a violation introduced by an override is caught", () => {
  const { error } = synth((stack) => {
    PolicyGate.suppress(stack.nat, "COST-NO-NAT-GATEWAY", "private subnets approved for this fixture");
    stack.table.addOverride("point_in_time_recovery.enabled", false);
  });
  expect(error?.message).toContain("gated aws_dynamodb_table.registry violates DYNAMODB-PITR");
});

test("a suppression with a reason lets synth pass and appears in the summary with its reason", () => {
  const { app, error } = synth((stack) => PolicyGate.suppress(stack.nat, "COST-NO-NAT-GATEWAY", "private subnets approved for this fixture"));
  expect(error).toBeUndefined();
  const summary = formatSummary(PolicyGate.report(app));
  expect(summary).toMatch(/^Policy gate: \d+ rules on 1 stacks, 0 violations, 1 suppressed/);
  expect(summary).toContain("suppressed COST-NO-NAT-GATEWAY gated aws_nat_gateway.nat: private subnets approved for this fixture");
});

test("a suppression on a parent scope covers the resources under it, and only for its rule", () => {
  const { error } = synth((stack) => PolicyGate.suppress(stack, "DYNAMODB-PITR", "the whole stack is a throwaway fixture"));
  expect(error?.message).toContain("COST-NO-NAT-GATEWAY");
});

test("a suppression that matches nothing is listed as unused", () => {
  const { app } = synth((stack) => {
    PolicyGate.suppress(stack.nat, "COST-NO-NAT-GATEWAY", "private subnets approved for this fixture");
    PolicyGate.suppress(stack.table, "DYNAMODB-PITR", "left over from an older table definition");
  });
  expect(formatSummary(PolicyGate.report(app))).toContain(
    "unused suppression DYNAMODB-PITR at gated/registry (matches no violation; remove it): left over from an older table definition",
  );
});

test("fails when a suppression has no written reason", () => {
  const app = new App({ outdir: scratchDir("shf-gate-") });
  const stack = new GatedStack(app, "gated");
  expect(() => PolicyGate.suppress(stack.nat, "COST-NO-NAT-GATEWAY", "")).toThrow(/needs a written reason/);
  expect(() => PolicyGate.suppress(stack.nat, "COST-NO-NAT-GATEWAY", "   ok    ")).toThrow(/needs a written reason/);
});

test("fails when a suppression names a rule that does not exist", () => {
  const app = new App({ outdir: scratchDir("shf-gate-") });
  const stack = new GatedStack(app, "gated");
  expect(() => PolicyGate.suppress(stack.nat, "COST-NO-NAT", "a typo in the rule id must not hide anything")).toThrow(/unknown rule "COST-NO-NAT"/);
});

describe.each(["dev", "prod"])("the real app (%s)", (envName) => {
  test("passes every rule in every stack, with only the listed suppressions", () => {
    const app = new App({ outdir: scratchDir(`shf-gate-${envName}-`) });
    defineStacks(app, { config: loadConfig(envName), offline: true });
    app.synth();
    const report = PolicyGate.report(app);
    expect(report.stacks.map((s) => s.stack).sort()).toEqual(["api", "ci", "ec2", "ecr", "fleet", "iot", "ops", "ota", "roles", "state", "telemetry", "vpc"]);
    expect(report.stacks.flatMap((s) => s.violations)).toEqual([]);
    expect(report.stacks.flatMap((s) => s.unused)).toEqual([]);
    // The listed suppressions, each with its reason: PITR on derived or copied-elsewhere telemetry tables (issue 15).
    expect(report.stacks.flatMap((s) => s.suppressed).map((f) => `${f.stack} ${f.address} ${f.rule.id}`)).toEqual([
      "telemetry aws_dynamodb_table.telemetry-table DYNAMODB-PITR",
      "telemetry aws_dynamodb_table.rollup-table DYNAMODB-PITR",
    ]);
    for (const f of report.stacks.flatMap((s) => s.suppressed)) expect(f.reason).toMatch(/warm store|derived/);
  });
});
