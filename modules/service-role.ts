import { Construct } from "constructs";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { IamRolePolicyAttachment } from "@cdktf/provider-aws/lib/iam-role-policy-attachment";
import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";
import { PolicyStatement, policyDocument } from "./policy-document";
import type { Grantee } from "./grantee";
import { PermissionsBoundary } from "./permissions-boundary";

export interface ServiceRoleProps {
  readonly roleName: string;
  readonly description: string;
  /** Who may assume the role. */
  readonly trust: DataAwsIamPolicyDocument;
  /** Inline permissions, checked for least privilege by policyDocument(). @default none (grants may add policies) */
  readonly statements?: readonly PolicyStatement[];
  /** AWS-managed policies by name (e.g. `AmazonSSMManagedInstanceCore`). @default none */
  readonly managedPolicies?: readonly string[];
  /** @default 3600 */
  readonly maxSessionSeconds?: number;
  /**
   * Managed policy capping the role's permissions. `false` only for the CI identities an
   * administrator manages (the `ci` stack); every role the apply role creates must carry one.
   * @default the boundary applied to the scope (PermissionsBoundary.of(stack).apply, done by FleetStack)
   */
  readonly permissionsBoundaryArn?: string | false;
  /** IAM path. @default "/" */
  readonly path?: string;
}

/**
 * An IAM role with its trust, one inline least-privilege policy and optional AWS-managed policies,
 * inside the permissions boundary of its scope (see PermissionsBoundary).
 *
 * @example new ServiceRole(this, "rule-action", { roleName: "shf-dev-iot-rules", description: "...", trust, statements })
 */
export class ServiceRole extends Construct implements Grantee {
  readonly role: IamRole;
  readonly roleName: string;
  readonly roleArn: string;
  private readonly policy?: IamRolePolicy;

  constructor(scope: Construct, id: string, props: ServiceRoleProps) {
    super(scope, id);
    if (props.roleName.length > 64) throw new Error(`ServiceRole "${id}": roleName "${props.roleName}" is longer than IAM's 64 characters`);
    this.role = new IamRole(this, "role", {
      name: props.roleName,
      description: props.description,
      assumeRolePolicy: props.trust.json,
      maxSessionDuration: props.maxSessionSeconds ?? 3600,
      path: props.path,
      permissionsBoundary: props.permissionsBoundaryArn === false ? undefined : (props.permissionsBoundaryArn ?? PermissionsBoundary.of(this).policyArn),
    });
    this.roleName = this.role.name;
    this.roleArn = this.role.arn;
    if (props.statements && props.statements.length > 0) {
      this.policy = new IamRolePolicy(this, "policy", {
        role: this.role.id,
        name: "permissions",
        policy: policyDocument(this, "permissions", props.statements).json,
      });
    }
    for (const managed of props.managedPolicies ?? []) {
      new IamRolePolicyAttachment(this, `managed-${managed}`, {
        role: this.role.name,
        policyArn: `arn:aws:iam::aws:policy/${managed}`,
      });
    }
  }

  /** The inline policy, for resources that must not be created before the role may act (`dependsOn`). */
  get inlinePolicy(): IamRolePolicy {
    if (!this.policy) throw new Error(`ServiceRole "${this.node.id}" has no inline policy`);
    return this.policy;
  }

  /**
   * One more inline policy named `name` (what grants on tables, topics and buckets call), beside the
   * role's `permissions` policy.
   */
  addToRolePolicy(name: string, statements: readonly PolicyStatement[]): void {
    if (name === "permissions" || this.node.tryFindChild(`grant-${name}`)) {
      throw new Error(`ServiceRole "${this.node.id}" already has a policy named "${name}": grant once, or use another name`);
    }
    new IamRolePolicy(this, `grant-${name}`, { role: this.role.id, name, policy: policyDocument(this, `grant-${name}-document`, statements).json });
  }
}
