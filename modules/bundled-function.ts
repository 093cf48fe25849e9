import { Construct } from "constructs";
import { AssetType, TerraformAsset } from "cdktf";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { LambdaFunction } from "@cdktf/provider-aws/lib/lambda-function";
import type { LambdaPermission } from "@cdktf/provider-aws/lib/lambda-permission";
import { bundleHandler, type BundleResult } from "./bundling/bundle";
import type { Grantee } from "./grantee";
import { invokePermission, type InvokePermission } from "./invoke-permission";
import { PolicyStatement, policyDocument, serviceTrust } from "./policy-document";
import { PermissionsBoundary } from "./permissions-boundary";

export interface BundledFunctionProps {
  /** Handler entry file, e.g. `handlerEntry("provisioning-hook")`; it must export `handler`. */
  readonly entry: string;
  /** Physical function name (also the role name and the log group `/aws/lambda/<name>`). */
  readonly functionName: string;
  /** @default none */
  readonly description?: string;
  /** Days CloudWatch keeps the function's logs (config.logRetentionDays). */
  readonly logRetentionDays: number;
  /** Environment variables; AWS-reserved names are refused. @default none */
  readonly environment?: Readonly<Record<string, string>>;
  /** @default 10 */
  readonly timeoutSeconds?: number;
  /** @default 256 */
  readonly memoryMiB?: number;
  /** Concurrency reserved for (and capping) this function. @default none: the account's unreserved pool */
  readonly reservedConcurrency?: number;
  /** Ship a source map and enable it at runtime. @default false */
  readonly sourceMap?: boolean;
}

const RESERVED_ENVIRONMENT = new Set([
  "_HANDLER",
  "_X_AMZN_TRACE_ID",
  "AWS_DEFAULT_REGION",
  "AWS_REGION",
  "AWS_EXECUTION_ENV",
  "AWS_LAMBDA_FUNCTION_NAME",
  "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
  "AWS_LAMBDA_FUNCTION_VERSION",
  "AWS_LAMBDA_INITIALIZATION_TYPE",
  "AWS_LAMBDA_LOG_GROUP_NAME",
  "AWS_LAMBDA_LOG_STREAM_NAME",
  "AWS_ACCESS_KEY",
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "AWS_LAMBDA_RUNTIME_API",
  "LAMBDA_TASK_ROOT",
  "LAMBDA_RUNTIME_DIR",
]);

/**
 * One Lambda handler, bundled by esbuild into its own small deterministic zip, on Node.js 22 / arm64,
 * with its own log group (retention set) and its own least-privilege role: it may write only to its
 * own log group until a resource grants it more (`registry.grantReadWrite(fn)`).
 *
 * @example
 * const hook = new BundledFunction(this, "provisioning-hook", {
 *   entry: handlerEntry("provisioning-hook"), functionName: names.provisioningHookFunction,
 *   logRetentionDays: config.logRetentionDays, timeoutSeconds: 5,
 * });
 * registry.grantReadWrite(hook);
 * hook.allowInvoke("iot-provisioning", { principal: "iot.amazonaws.com", sourceArn, sourceAccount });
 */
export class BundledFunction extends Construct implements Grantee {
  readonly function: LambdaFunction;
  readonly functionName: string;
  readonly functionArn: string;
  /** ARN API Gateway integrations invoke. */
  readonly invokeArn: string;
  readonly role: IamRole;
  readonly roleArn: string;
  readonly roleName: string;
  readonly logGroup: CloudwatchLogGroup;
  readonly logGroupName: string;
  readonly timeoutSeconds: number;
  /** Base64 SHA-256 of the bundled code, the function's `source_code_hash`. */
  readonly codeHash: string;
  readonly bundle: BundleResult;
  private readonly grants: Construct;
  private readonly permissions: Construct;

  constructor(scope: Construct, id: string, props: BundledFunctionProps) {
    super(scope, id);
    const timeoutSeconds = props.timeoutSeconds ?? 10;
    const memoryMiB = props.memoryMiB ?? 256;
    validate(id, props, timeoutSeconds, memoryMiB);
    this.timeoutSeconds = timeoutSeconds;

    this.bundle = bundleHandler(props.entry, { sourceMap: props.sourceMap });
    this.codeHash = this.bundle.codeHash;

    this.logGroup = new CloudwatchLogGroup(this, "log-group", {
      name: `/aws/lambda/${props.functionName}`,
      retentionInDays: props.logRetentionDays,
    });
    this.logGroupName = this.logGroup.name;

    this.role = new IamRole(this, "role", {
      name: props.functionName,
      description: `Lambda function ${props.functionName}`,
      assumeRolePolicy: serviceTrust(this, "trust", "lambda.amazonaws.com").json,
      permissionsBoundary: PermissionsBoundary.of(this).policyArn,
    });
    this.roleArn = this.role.arn;
    this.roleName = this.role.name;
    this.grants = new Construct(this, "grants");
    this.permissions = new Construct(this, "permissions");

    // AWSLambdaBasicExecutionRole, but only on this function's own log group.
    this.addToRolePolicy("write-own-logs", [
      { sid: "WriteOwnLogs", actions: ["logs:CreateLogStream", "logs:PutLogEvents"], resources: [`${this.logGroup.arn}:*`] },
    ]);

    const code = new TerraformAsset(this, "code", { path: this.bundle.zipPath, type: AssetType.FILE, assetHash: hexOf(this.codeHash) });

    const environment = { ...(props.environment ?? {}), ...(props.sourceMap ? { NODE_OPTIONS: "--enable-source-maps" } : {}) };
    this.function = new LambdaFunction(this, "function", {
      functionName: props.functionName,
      description: props.description,
      role: this.role.arn,
      runtime: "nodejs22.x",
      architectures: ["arm64"],
      handler: "index.handler",
      filename: code.path,
      sourceCodeHash: this.codeHash,
      timeout: timeoutSeconds,
      memorySize: memoryMiB,
      reservedConcurrentExecutions: props.reservedConcurrency,
      environment: Object.keys(environment).length > 0 ? { variables: environment } : undefined,
      loggingConfig: { logFormat: "Text", logGroup: this.logGroup.name },
      // The log group (with its retention) and the log permissions exist before the first invocation.
      dependsOn: [this.logGroup, this.grants.node.findChild("write-own-logs") as IamRolePolicy],
    });
    this.functionName = this.function.functionName;
    this.functionArn = this.function.arn;
    this.invokeArn = this.function.invokeArn;
  }

  addToRolePolicy(name: string, statements: readonly PolicyStatement[]): void {
    if (!/^[A-Za-z0-9+=,.@_-]{1,128}$/.test(name)) {
      throw new Error(`BundledFunction "${this.node.id}": policy name "${name}" must be 1-128 characters [A-Za-z0-9+=,.@_-]`);
    }
    if (this.grants.node.tryFindChild(name)) {
      throw new Error(`BundledFunction "${this.node.id}" already has a policy named "${name}": grant once, or use another name`);
    }
    const document = policyDocument(this.grants, `${name}-document`, statements);
    new IamRolePolicy(this.grants, name, { name, role: this.role.id, policy: document.json });
  }

  /** Lets one AWS service resource invoke the function (see {@link invokePermission}). */
  allowInvoke(id: string, permission: InvokePermission): LambdaPermission {
    return invokePermission(this.permissions, id, this.function.functionName, permission, `BundledFunction "${this.node.id}" allowInvoke("${id}")`);
  }
}

function hexOf(base64: string): string {
  return Buffer.from(base64, "base64").toString("hex");
}

function validate(id: string, props: BundledFunctionProps, timeoutSeconds: number, memoryMiB: number): void {
  const where = `BundledFunction "${id}"`;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(props.functionName ?? "")) {
    throw new Error(`${where}: functionName "${props.functionName}" must be 1-64 characters [A-Za-z0-9_-] (it also names the IAM role)`);
  }
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > 900) {
    throw new Error(`${where}: timeoutSeconds must be a whole number from 1 to 900, got ${timeoutSeconds}`);
  }
  if (!Number.isInteger(memoryMiB) || memoryMiB < 128 || memoryMiB > 10240) {
    throw new Error(`${where}: memoryMiB must be a whole number from 128 to 10240, got ${memoryMiB}`);
  }
  if (props.reservedConcurrency !== undefined && (!Number.isInteger(props.reservedConcurrency) || props.reservedConcurrency < 0)) {
    throw new Error(`${where}: reservedConcurrency must be a whole number >= 0, got ${props.reservedConcurrency}`);
  }
  if (!Number.isInteger(props.logRetentionDays) || props.logRetentionDays < 1) {
    throw new Error(`${where}: logRetentionDays must be a whole number of days >= 1 (config.logRetentionDays), got ${props.logRetentionDays}`);
  }
  for (const name of Object.keys(props.environment ?? {})) {
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) throw new Error(`${where}: environment variable name "${name}" must match [A-Za-z][A-Za-z0-9_]*`);
    if (RESERVED_ENVIRONMENT.has(name)) throw new Error(`${where}: environment variable "${name}" is reserved by Lambda; choose another name`);
  }
}
