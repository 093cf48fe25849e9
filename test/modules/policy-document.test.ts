import { Testing, TerraformStack } from "cdktf";
import { policyDocument } from "../../modules/policy-document";

const build = (statements: Parameters<typeof policyDocument>[2], options?: Parameters<typeof policyDocument>[3]) => {
  const stack = new TerraformStack(Testing.app(), "test");
  return policyDocument(stack, "doc", statements, options);
};

describe("policyDocument", () => {
  test("fails when a statement allows Action *", () => {
    expect(() => build([{ sid: "All", actions: ["*"], resources: ["arn:aws:s3:::b"] }])).toThrow(/policy "doc" statement All allows Action "\*"/);
  });

  test("fails when a statement allows service:* on every resource", () => {
    expect(() => build([{ actions: ["s3:*"], resources: ["*"] }])).toThrow(/allows "s3:\*" on every resource/);
  });

  test("allows service:* scoped to named resources", () => {
    expect(() => build([{ actions: ["s3:*"], resources: ["arn:aws:s3:::shf-dev-firmware/*"] }])).not.toThrow();
  });

  test("allows broad actions in a Deny statement", () => {
    expect(() => build([{ effect: "Deny", actions: ["s3:*"], resources: ["*"] }])).not.toThrow();
  });

  test("GIVEN a permissions boundary (ceiling) THEN whole services on every resource are allowed", () => {
    expect(() => build([{ actions: ["s3:*", "dynamodb:*"], resources: ["*"] }], { ceiling: true })).not.toThrow();
  });

  test("fails when a ceiling allows Action *", () => {
    expect(() => build([{ sid: "All", actions: ["*"], resources: ["*"] }], { ceiling: true })).toThrow(/allows Action "\*"/);
  });

  test("fails when an Allow statement uses NotResource", () => {
    expect(() => build([{ sid: "Wide", actions: ["s3:GetObject"], notResources: ["arn:aws:s3:::state/*"] }])).toThrow(
      /NotResource is for Deny statements only/,
    );
  });

  test("GIVEN a Deny with NotResource THEN it is synthesized as not_resources", () => {
    const stack = new TerraformStack(Testing.app(), "test");
    policyDocument(stack, "doc", [{ effect: "Deny", actions: ["s3:GetObject"], notResources: ["arn:aws:s3:::state/*"] }]);
    const doc = JSON.parse(Testing.synth(stack)).data.aws_iam_policy_document.doc;
    expect(doc.statement[0]).toMatchObject({ effect: "Deny", not_resources: ["arn:aws:s3:::state/*"] });
  });

  test("fails when there are no statements", () => {
    expect(() => build([])).toThrow(/has no statements/);
  });
});
