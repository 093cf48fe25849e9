import { Testing, TerraformStack } from "cdktf";
import { ImportedFunction } from "../../modules/imported-function";
import type { InvokePermission } from "../../modules/invoke-permission";

const ref = { functionName: "shf-dev-alert-handler", functionArn: "arn:aws:lambda:eu-west-1:111111111111:function:shf-dev-alert-handler" };
const rulePermission: InvokePermission = {
  principal: "iot.amazonaws.com",
  sourceArn: "arn:aws:iot:eu-west-1:111111111111:rule/r",
  sourceAccount: "111111111111",
};

function synthImported(use: (fn: ImportedFunction) => void): {
  resource: { aws_lambda_permission: Record<string, Record<string, unknown>> };
  moved?: { from: string; to: string }[];
} {
  const app = Testing.app();
  const stack = new TerraformStack(app, "test");
  use(ImportedFunction.fromFunctionRef(stack, "alert-handler", ref));
  return JSON.parse(Testing.synth(stack));
}

describe("ImportedFunction.fromFunctionRef", () => {
  test("GIVEN a ref THEN the imported function carries its name and ARN", () => {
    const app = Testing.app();
    const fn = ImportedFunction.fromFunctionRef(new TerraformStack(app, "test"), "alert-handler", ref);
    expect({ functionName: fn.functionName, functionArn: fn.functionArn }).toEqual(ref);
  });

  test("GIVEN allowInvoke THEN one permission on that function for that one rule and account", () => {
    const json = synthImported((fn) => fn.allowInvoke("telemetry-threshold", rulePermission));
    expect(Object.values(json.resource.aws_lambda_permission)).toEqual([
      expect.objectContaining({
        statement_id: "telemetry-threshold",
        action: "lambda:InvokeFunction",
        function_name: ref.functionName,
        principal: "iot.amazonaws.com",
        source_arn: rulePermission.sourceArn,
        source_account: "111111111111",
      }),
    ]);
  });

  test("GIVEN a permission deployed at another address THEN moveFromId writes the moved block", () => {
    const json = synthImported((fn) => fn.allowInvoke("telemetry-threshold", rulePermission).moveFromId("aws_lambda_permission.old-permission"));
    const [address] = Object.keys(json.resource.aws_lambda_permission);
    expect(json.moved).toEqual([{ from: "aws_lambda_permission.old-permission", to: `aws_lambda_permission.${address}` }]);
  });

  test.each([
    ["without a source ARN", { ...rulePermission, sourceArn: "" }, /sourceArn is required/],
    ["without a source account", { ...rulePermission, sourceAccount: " " }, /sourceAccount is required/],
    ["with a principal that is not an AWS service", { ...rulePermission, principal: "*" }, /must be an AWS service principal/],
  ])("fails when allowInvoke is called %s", (_case, permission, message) => {
    expect(() => synthImported((fn) => fn.allowInvoke("p", permission))).toThrow(message);
  });
});
