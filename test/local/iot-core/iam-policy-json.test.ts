/**
 * The twin renders `aws_iam_policy_document` exactly as Terraform's hashicorp/aws provider does, so the
 * policies it evaluates are byte for byte the ones AWS IoT receives. Checked against the real provider:
 * every policy document of the iot, fleet and roles stacks whose arguments are literal (no references)
 * goes through `terraform apply` (data sources only, offline credentials) and is compared with ours.
 */
import { App, TerraformStack, Testing } from "cdktf";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../../config";
import { defineStacks } from "../../../main";
import { IamPolicyDocumentConfig, renderIamPolicyDocument } from "../../../local/iot-core/iam-policy-json";
import { pinnedAwsProviderVersion, terraform, writeCliConfig } from "../../../scripts/terraform-harness";

describe("renderIamPolicyDocument against the real provider", () => {
  const documents: Record<string, IamPolicyDocumentConfig> = {};
  let fromTerraform: Record<string, { value: string }> = {};
  let dir: string;

  beforeAll(
    async () => {
      const app = Testing.app();
      const stacks = defineStacks(app as App, { config: loadConfig("dev"), offline: true });
      for (const stack of [stacks.iot, stacks.fleet, stacks.roles] as TerraformStack[]) {
        const tf = JSON.parse(Testing.synth(stack)) as { data?: { aws_iam_policy_document?: Record<string, IamPolicyDocumentConfig> } };
        for (const [name, doc] of Object.entries(tf.data?.aws_iam_policy_document ?? {})) {
          if (!JSON.stringify(doc).includes("${")) documents[`${stack.node.id}_${name}`] = doc;
        }
      }
      dir = mkdtempSync(join(tmpdir(), "shf-iam-json-"));
      const provider = {
        region: "eu-west-1",
        access_key: "AKIAOFFLINEPLAN00000",
        secret_key: "offline-no-real-credentials",
        skip_credentials_validation: true,
        skip_requesting_account_id: true,
        skip_metadata_api_check: "true",
        skip_region_validation: true,
      };
      const output = Object.fromEntries(Object.keys(documents).map((k) => [k, { value: `\${data.aws_iam_policy_document.${k}.json}` }]));
      writeFileSync(
        join(dir, "main.tf.json"),
        JSON.stringify({
          terraform: { required_providers: { aws: { source: "hashicorp/aws", version: pinnedAwsProviderVersion() } } },
          provider: { aws: [provider] },
          data: { aws_iam_policy_document: documents },
          output,
        }),
      );
      const cli = writeCliConfig(join(dir, ".terraform-cli"));
      for (const args of [
        ["init", "-backend=false"],
        ["apply", "-auto-approve"],
      ]) {
        const run = await terraform(dir, args, cli);
        if (!run.ok) throw new Error(`terraform ${args[0]} failed: ${run.stderr}`);
      }
      fromTerraform = JSON.parse((await terraform(dir, ["output", "-json"], cli)).stdout) as Record<string, { value: string }>;
    },
    5 * 60 * 1000,
  );

  afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));

  it("GIVEN the IoT policy documents WHEN rendered by the twin THEN they equal Terraform's", () => {
    const iot = Object.keys(documents).filter((k) => /(device|controller|claim)-policy_document/.test(k));
    expect(iot).toHaveLength(3);
    for (const key of iot) expect({ key, json: renderIamPolicyDocument(documents[key]!) }).toEqual({ key, json: fromTerraform[key]!.value });
  });

  it("GIVEN every literal policy document of the iot, fleet and roles stacks WHEN rendered THEN each equals Terraform's", () => {
    const differing = Object.keys(documents).filter((k) => renderIamPolicyDocument(documents[k]!) !== fromTerraform[k]?.value);
    expect(differing).toEqual([]);
  });
});
