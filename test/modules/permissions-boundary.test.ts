import { Testing, TerraformStack } from "cdktf";
import { PermissionsBoundary } from "../../modules/permissions-boundary";
import { serviceTrust } from "../../modules/policy-document";
import { ServiceRole } from "../../modules/service-role";

const BOUNDARY = "arn:aws:iam::111111111111:policy/ci/shf-dev-ci-boundary";

function roleIn(stack: TerraformStack, props: Partial<ConstructorParameters<typeof ServiceRole>[2]> = {}) {
  new ServiceRole(stack, "role", { roleName: "shf-dev-x", description: "x", trust: serviceTrust(stack, "trust", "lambda.amazonaws.com"), ...props });
  return Object.values(JSON.parse(Testing.synth(stack)).resource.aws_iam_role as Record<string, { permissions_boundary?: string }>)[0];
}

describe("PermissionsBoundary", () => {
  test("GIVEN a boundary applied to the stack WHEN a ServiceRole is created in it THEN the role carries it", () => {
    const stack = new TerraformStack(Testing.app(), "test");
    PermissionsBoundary.of(stack).apply(BOUNDARY);
    expect(roleIn(stack).permissions_boundary).toBe(BOUNDARY);
  });

  test("GIVEN a boundary applied to the stack WHEN a role opts out explicitly THEN it has none", () => {
    const stack = new TerraformStack(Testing.app(), "test");
    PermissionsBoundary.of(stack).apply(BOUNDARY);
    expect(roleIn(stack, { permissionsBoundaryArn: false }).permissions_boundary).toBeUndefined();
  });

  test("fails when the boundary is not a managed policy ARN", () => {
    const stack = new TerraformStack(Testing.app(), "test");
    expect(() => PermissionsBoundary.of(stack).apply("arn:aws:iam::111111111111:role/x")).toThrow(/is not the ARN of an IAM managed policy/);
  });
});
