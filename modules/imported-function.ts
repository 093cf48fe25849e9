import { Construct } from "constructs";
import type { LambdaPermission } from "@cdktf/provider-aws/lib/lambda-permission";
import { invokePermission, type InvokePermission } from "./invoke-permission";
import type { Grantee } from "./grantee";
import type { FunctionRef } from "./refs";

/**
 * A function another stack owns, imported with the powers a consumer needs (as aws-cdk-lib's
 * `Function.fromFunctionAttributes`): a stack that triggers it adds the invoke permission its trigger
 * needs, with the same checks as {@link BundledFunction.allowInvoke}; a function that calls it gets `grantInvoke`.
 *
 * @example
 * const alertHandler = ImportedFunction.fromFunctionRef(this, "alert-handler", iot.alertHandler);
 * alertHandler.allowInvoke("telemetry-threshold", { principal: "iot.amazonaws.com", sourceArn: ruleArn, sourceAccount });
 */
export class ImportedFunction extends Construct implements FunctionRef {
  static fromFunctionRef(scope: Construct, id: string, ref: FunctionRef): ImportedFunction {
    return new ImportedFunction(scope, id, ref);
  }

  readonly functionName: string;
  readonly functionArn: string;

  private constructor(scope: Construct, id: string, ref: FunctionRef) {
    super(scope, id);
    this.functionName = ref.functionName;
    this.functionArn = ref.functionArn;
  }

  /** Lets a function of this stack invoke it (lambda:InvokeFunction on this function only; asynchronous `Event` invocations included). */
  grantInvoke(grantee: Grantee): void {
    grantee.addToRolePolicy(`${this.node.id}-invoke`, [{ sid: "Invoke", actions: ["lambda:InvokeFunction"], resources: [this.functionArn] }]);
  }

  /** Lets one AWS service resource invoke the function: statement id `id`, `sourceArn` and `sourceAccount` required. */
  allowInvoke(id: string, permission: InvokePermission): LambdaPermission {
    return invokePermission(this, id, this.functionName, permission, `ImportedFunction "${this.node.id}" allowInvoke("${id}")`);
  }
}
