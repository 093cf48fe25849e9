import { IConstruct } from "constructs";

/** Construct-tree context key under which a stack names the boundary its roles carry. */
const CONTEXT_KEY = "smart-home-fleet:permissionsBoundaryArn";

/**
 * The permissions boundary every IAM role under a scope carries by default, the way aws-cdk-lib's
 * `PermissionsBoundary.of(scope).apply(...)` works: a stack sets it once (FleetStack does, with
 * `resourceNames(config).permissionsBoundaryArn`), and the role constructs (ServiceRole,
 * BundledFunction, ...) read it from the construct tree, so no role creation site can forget it.
 *
 * @example PermissionsBoundary.of(stack).apply(names.permissionsBoundaryArn)
 */
export class PermissionsBoundary {
  static of(scope: IConstruct): PermissionsBoundary {
    return new PermissionsBoundary(scope);
  }

  private constructor(private readonly scope: IConstruct) {}

  /** Every role created under this scope from now on carries `policyArn`. */
  apply(policyArn: string): void {
    if (!/^arn:aws[a-z-]*:iam::(\d{12}|aws):policy\/.+/.test(policyArn)) {
      throw new Error(`PermissionsBoundary.apply: "${policyArn}" is not the ARN of an IAM managed policy`);
    }
    this.scope.node.setContext(CONTEXT_KEY, policyArn);
  }

  /** The boundary roles under this scope carry, if a scope above applied one. */
  get policyArn(): string | undefined {
    const value: unknown = this.scope.node.tryGetContext(CONTEXT_KEY);
    return typeof value === "string" ? value : undefined;
  }
}
