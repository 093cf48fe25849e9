import { Construct } from "constructs";
import { LambdaPermission } from "@cdktf/provider-aws/lib/lambda-permission";

export interface InvokePermission {
  /** Service principal that invokes the function, e.g. `iot.amazonaws.com`. */
  readonly principal: string;
  /** The one resource allowed to invoke (rule, template, API route...): required. */
  readonly sourceArn: string;
  /** Account that owns `sourceArn`: required (confused-deputy protection). */
  readonly sourceAccount: string;
}

/**
 * A resource-policy statement `id` on function `functionName` that lets one AWS service resource invoke
 * it. Both `sourceArn` and `sourceAccount` are required: a permission without them lets any account's
 * resource of that service invoke the function. `where` names the caller in errors.
 */
export function invokePermission(scope: Construct, id: string, functionName: string, permission: InvokePermission, where: string): LambdaPermission {
  if (!/^[A-Za-z0-9-_]{1,100}$/.test(id)) throw new Error(`${where}: id must be 1-100 characters [A-Za-z0-9-_]`);
  if (!/^[a-z0-9.-]+\.amazonaws\.com$/.test(permission.principal ?? "")) {
    throw new Error(`${where}: principal "${permission.principal}" must be an AWS service principal such as iot.amazonaws.com`);
  }
  if (typeof permission.sourceArn !== "string" || permission.sourceArn.trim() === "") {
    throw new Error(`${where}: sourceArn is required, so only that one resource may invoke the function`);
  }
  if (typeof permission.sourceAccount !== "string" || permission.sourceAccount.trim() === "") {
    throw new Error(`${where}: sourceAccount is required, so no other account's resource may invoke the function`);
  }
  return new LambdaPermission(scope, id, {
    statementId: id,
    action: "lambda:InvokeFunction",
    functionName,
    principal: permission.principal,
    sourceArn: permission.sourceArn,
    sourceAccount: permission.sourceAccount,
  });
}
