/** The Terraform harness must fail loudly on a broken stack, or a green suite proves nothing. */
import { App } from "cdktf";
import { Construct } from "constructs";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DataAwsCallerIdentity } from "@cdktf/provider-aws/lib/data-aws-caller-identity";
import { SnsTopic } from "@cdktf/provider-aws/lib/sns-topic";
import { loadConfig } from "../../config";
import { FleetStack, FleetStackProps } from "../../stacks/shared/fleet-stack";
import { checkStack, findProviderMirror, pinnedAwsProviderVersion, writeCliConfig } from "../../scripts/terraform-harness";
import { scratchDir } from "../support/scratch";
import { PolicyGate } from "../../modules/policy-gate/policy-gate";

class BrokenStack extends FleetStack {
  constructor(scope: Construct, id: string, props: FleetStackProps, breakage: "unknown-argument" | "data-lookup") {
    super(scope, id, props);
    const topic = new SnsTopic(this, "topic", { name: "harness-check" });
    // This stack is broken for Terraform on purpose; the policy gate must not stop it before terraform runs.
    for (const rule of ["SNS-ENCRYPTION", "SNS-TLS-ONLY"]) PolicyGate.suppress(topic, rule, "harness fixture: it checks terraform validate/plan, not policy");
    if (breakage === "unknown-argument") topic.addOverride("not_an_sns_argument", true);
    // A data source needs an AWS API call: with no network and fake credentials the plan must fail.
    else new DataAwsCallerIdentity(this, "caller");
  }
}

function synthBroken(breakage: "unknown-argument" | "data-lookup"): string {
  const outdir = scratchDir("shf-broken-");
  const app = new App({ outdir });
  new BrokenStack(app, "broken", { config: loadConfig("dev"), offline: true }, breakage);
  app.synth();
  return join(outdir, "stacks", "broken");
}

const cliConfig = writeCliConfig(scratchDir("shf-cli-"));

test("fails at validate when a resource has an argument the provider does not know", async () => {
  const check = await checkStack(synthBroken("unknown-argument"), "broken", cliConfig);
  expect(check.failure?.step).toBe("validate");
  expect(check.failure?.message).toMatch(/not_an_sns_argument/);
});

test("fails at plan when an offline stack would need an AWS API call", async () => {
  const check = await checkStack(synthBroken("data-lookup"), "broken", cliConfig);
  expect(check.failure?.step).toBe("plan");
});

describe("provider mirror discovery", () => {
  test("uses the directory named by IOT_TF_PROVIDER_MIRROR when it holds the pinned provider", () => {
    const dir = scratchDir("shf-mirror-");
    mkdirSync(join(dir, "registry.terraform.io/hashicorp/aws", pinnedAwsProviderVersion()), { recursive: true });
    expect(findProviderMirror(undefined, { IOT_TF_PROVIDER_MIRROR: dir })).toBe(dir);
  });

  test("fails when IOT_TF_PROVIDER_MIRROR names a directory without the pinned provider", () => {
    const dir = scratchDir("shf-mirror-");
    expect(() => findProviderMirror(undefined, { IOT_TF_PROVIDER_MIRROR: dir })).toThrow(/does not hold registry.terraform.io\/hashicorp\/aws 5.100.0/);
  });

  test("falls back to the registry when IOT_TF_PROVIDER_MIRROR=none", () => {
    const dir = scratchDir("shf-cli-");
    const mirror = findProviderMirror(undefined, { IOT_TF_PROVIDER_MIRROR: "none" });
    const path = writeCliConfig(dir, { mirror: mirror ?? null });
    expect(mirror).toBeUndefined();
    expect(readFileSync(path, "utf8")).toMatch(/direct \{\}/);
  });

  test("pins the provider version that @cdktf/provider-aws 20.1.0 targets", () => {
    expect(pinnedAwsProviderVersion()).toBe("5.100.0");
  });
});
