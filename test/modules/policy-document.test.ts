import { Testing, TerraformStack } from "cdktf";
import { policyDocument } from "../../modules/policy-document";

const build = (statements: Parameters<typeof policyDocument>[2]) => {
  const stack = new TerraformStack(Testing.app(), "test");
  return policyDocument(stack, "doc", statements);
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

  test("fails when there are no statements", () => {
    expect(() => build([])).toThrow(/has no statements/);
  });
});
