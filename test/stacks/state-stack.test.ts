import { StateStack } from "../../stacks/state-stack";
import { resourcesOf, synthStack } from "../support/synth";

const synth = (offline = false) => synthStack((app, props) => new StateStack(app, "state", props), { offline });

describe("StateStack", () => {
  test("keeps its own state on a local backend, even when not offline", () => {
    const stack = synth();
    expect(stack.tf.terraform?.backend).toEqual({ local: { path: "terraform.state.tfstate" } });
  });

  test("state bucket is versioned, encrypted and blocks all public access", () => {
    const stack = synth();
    expect(stack.json).toHaveResourceWithProperties({ tfResourceType: "aws_s3_bucket_versioning" }, { versioning_configuration: { status: "Enabled" } });
    expect(stack.json).toHaveResourceWithProperties({ tfResourceType: "aws_s3_bucket_server_side_encryption_configuration" }, {});
    expect(stack.json).toHaveResourceWithProperties(
      { tfResourceType: "aws_s3_bucket_public_access_block" },
      { block_public_acls: true, block_public_policy: true, ignore_public_acls: true, restrict_public_buckets: true },
    );
  });

  test("state bucket and lock table refuse to be destroyed", () => {
    const stack = synth();
    const bucket = Object.values(resourcesOf(stack, "aws_s3_bucket"))[0];
    const table = Object.values(resourcesOf(stack, "aws_dynamodb_table"))[0];
    expect(bucket.lifecycle).toEqual({ prevent_destroy: true });
    expect(table.lifecycle).toEqual({ prevent_destroy: true });
    expect(bucket.bucket).toBe("shf-dev-tfstate-111111111111");
  });

  test("lock table has the LockID key Terraform expects, with point-in-time recovery", () => {
    expect(synth().json).toHaveResourceWithProperties(
      { tfResourceType: "aws_dynamodb_table" },
      { hash_key: "LockID", billing_mode: "PAY_PER_REQUEST", point_in_time_recovery: { enabled: true }, name: "shf-dev-tflock" },
    );
  });

  test("bucket policy denies every request that is not TLS", () => {
    const stack = synth();
    const doc = Object.values(stack.tf.data!.aws_iam_policy_document)[0] as { statement: { effect: string; condition: unknown[] }[] };
    expect(doc.statement[0]).toMatchObject({
      effect: "Deny",
      condition: [{ test: "Bool", variable: "aws:SecureTransport", values: ["false"] }],
    });
  });
});
