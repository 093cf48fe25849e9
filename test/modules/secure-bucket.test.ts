import { Testing, TerraformStack } from "cdktf";
import { SecureBucket } from "../../modules/secure-bucket";

function synthBucket(props: ConstructorParameters<typeof SecureBucket>[2]): string {
  const app = Testing.app();
  const stack = new TerraformStack(app, "test");
  new SecureBucket(stack, "bucket", props);
  return Testing.synth(stack);
}

describe("SecureBucket", () => {
  test("applies bucket-owner-enforced ownership, so ACLs cannot make objects public", () => {
    expect(synthBucket({ bucketName: "probe-bucket" })).toHaveResourceWithProperties(
      { tfResourceType: "aws_s3_bucket_ownership_controls" },
      { rule: { object_ownership: "BucketOwnerEnforced" } },
    );
  });

  test("expires non-current versions after the given days", () => {
    expect(synthBucket({ bucketName: "probe-bucket", noncurrentVersionExpiryDays: 30 })).toHaveResourceWithProperties(
      { tfResourceType: "aws_s3_bucket_lifecycle_configuration" },
      { rule: [expect.objectContaining({ noncurrent_version_expiration: [{ noncurrent_days: 30 }] })] },
    );
  });

  test("adds extra policy statements after the TLS-only deny", () => {
    const json = JSON.parse(
      synthBucket({
        bucketName: "probe-bucket",
        policyStatements: [
          {
            sid: "Extra",
            actions: ["s3:GetObject"],
            resources: ["arn:aws:s3:::probe-bucket/*"],
            principals: [{ type: "Service", identifiers: ["iot.amazonaws.com"] }],
          },
        ],
      }),
    );
    const doc = Object.values(json.data.aws_iam_policy_document)[0] as { statement: { sid: string }[] };
    expect(doc.statement.map((s) => s.sid)).toEqual(["DenyInsecureTransport", "Extra"]);
  });

  test.each([["Upper_Case"], ["ab"], ["-leading-dash"]])("fails when the bucket name is %s", (bucketName) => {
    expect(() => synthBucket({ bucketName })).toThrow(/is not a valid S3 bucket name/);
  });

  test("fails when noncurrentVersionExpiryDays is not a positive whole number", () => {
    expect(() => synthBucket({ bucketName: "probe-bucket", noncurrentVersionExpiryDays: 0 })).toThrow(
      /noncurrentVersionExpiryDays must be a whole number >= 1, got 0/,
    );
  });
});
