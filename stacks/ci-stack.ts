import { Construct } from "constructs";
import { TerraformOutput } from "cdktf";
import { IamOpenidConnectProvider } from "@cdktf/provider-aws/lib/iam-openid-connect-provider";
import { IamPolicy } from "@cdktf/provider-aws/lib/iam-policy";
import { FleetStack, FleetStackProps, PROJECT_TAG } from "./shared/fleet-stack";
import { DRIFT_ENVIRONMENT, GITHUB_OIDC_HOST, githubSubjects, permissionsBoundaryStatements, planRoleStatements } from "./shared/ci-policies";
import { applyRoleStatements, controllerDeployStatements } from "./shared/ci-apply-policies";
import { RoleRef } from "../modules/refs";
import { policyDocument } from "../modules/policy-document";
import { ServiceRole } from "../modules/service-role";

export interface GithubRoles {
  /** Read-only: `terraform plan` on pull requests. */
  readonly plan: RoleRef;
  /** `terraform apply` on pushes to the apply branch, inside the GitHub environment, within the boundary. */
  readonly apply: RoleRef;
  /** Container CD: push to ECR and redeploy the controller through SSM Run Command. */
  readonly containerDeploy: RoleRef;
  /** Read-only like plan: the scheduled drift check (GitHub environment `drift`). */
  readonly drift: RoleRef;
}

/**
 * The CI identities: GitHub's OIDC provider, one role per workflow (each trusting its own OIDC subject)
 * and the permissions boundary the apply role carries and must put on every role it creates. An
 * administrator applies this stack by hand (`cdktf deploy ci`, README "Bootstrap"); CI skips it, so no
 * workflow can change who it is or what it may do.
 */
export class CiStack extends FleetStack {
  readonly githubRoles: GithubRoles;
  readonly permissionsBoundaryArn: string;

  constructor(scope: Construct, id: string, props: FleetStackProps) {
    super(scope, id, props, { administered: true });
    const names = this.names;
    const scopeOf = { config: this.config, names };

    const boundary = new IamPolicy(this, "permissions-boundary", {
      name: names.permissionsBoundaryPolicy,
      path: names.ciIamPath,
      description: "Ceiling of the CI apply role and of every role it creates; it cannot be removed or changed by them",
      policy: policyDocument(this, "permissions-boundary-document", permissionsBoundaryStatements(scopeOf), { ceiling: true }).json,
    });
    this.permissionsBoundaryArn = this.share(boundary.arn, names.permissionsBoundaryArn);

    const oidc = new IamOpenidConnectProvider(this, "github-oidc", {
      url: `https://${GITHUB_OIDC_HOST}`,
      clientIdList: ["sts.amazonaws.com"],
      // IAM no longer checks these for GitHub (it trusts its own CA store), but the API still requires one.
      thumbprintList: ["6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd"],
    });
    const githubTrust = (trustId: string, subject: string) =>
      policyDocument(this, trustId, [
        {
          actions: ["sts:AssumeRoleWithWebIdentity"],
          principals: [{ type: "Federated", identifiers: [oidc.arn] }],
          conditions: [
            { test: "StringEquals", variable: `${GITHUB_OIDC_HOST}:aud`, values: ["sts.amazonaws.com"] },
            { test: "StringEquals", variable: `${GITHUB_OIDC_HOST}:sub`, values: [subject] },
          ],
        },
      ]);
    const subjects = githubSubjects(this.config);

    const planRole = new ServiceRole(this, "github-plan-role", {
      roleName: names.ciPlanRole,
      path: names.ciIamPath,
      description: "GitHub Actions: terraform plan on pull requests (state and configuration reads only)",
      trust: githubTrust("github-plan-trust", subjects.plan),
      managedPolicies: ["ReadOnlyAccess"],
      statements: planRoleStatements(scopeOf),
      // Reads only; its explicit denies, not a boundary, keep it away from data.
      permissionsBoundaryArn: false,
    });

    // The scheduled drift check plans against real state exactly as a pull request does: same reads,
    // same denies, but its own subject, so neither workflow can borrow the other's role.
    const driftRole = new ServiceRole(this, "github-drift-role", {
      roleName: names.ciDriftRole,
      path: names.ciIamPath,
      description: "GitHub Actions: scheduled drift check, terraform plan of every stack (state and configuration reads only)",
      trust: githubTrust("github-drift-trust", subjects.drift),
      managedPolicies: ["ReadOnlyAccess"],
      statements: planRoleStatements(scopeOf),
      permissionsBoundaryArn: false,
    });

    const applyRole = new ServiceRole(this, "github-apply-role", {
      roleName: names.ciApplyRole,
      path: names.ciIamPath,
      description: "GitHub Actions: terraform apply on merge, inside the GitHub environment and the permissions boundary",
      trust: githubTrust("github-apply-trust", subjects.apply),
      maxSessionSeconds: 7200,
      statements: applyRoleStatements(scopeOf, PROJECT_TAG),
      permissionsBoundaryArn: boundary.arn,
    });

    const deployRole = new ServiceRole(this, "github-container-deploy-role", {
      roleName: names.ciControllerDeployRole,
      path: names.ciIamPath,
      description: "GitHub Actions: push the controller image and redeploy it through SSM",
      trust: githubTrust("github-deploy-trust", subjects.controllerDeploy),
      statements: controllerDeployStatements(scopeOf),
      // No IAM rights to raise; the boundary is for the roles the apply role manages.
      permissionsBoundaryArn: false,
    });

    const ref = (role: ServiceRole, roleName: string, roleArn: string): RoleRef =>
      this.share<RoleRef>({ roleName: role.roleName, roleArn: role.roleArn }, { roleName, roleArn });
    this.githubRoles = {
      plan: ref(planRole, names.ciPlanRole, names.ciPlanRoleArn),
      apply: ref(applyRole, names.ciApplyRole, names.ciApplyRoleArn),
      containerDeploy: ref(deployRole, names.ciControllerDeployRole, names.ciControllerDeployRoleArn),
      drift: ref(driftRole, names.ciDriftRole, names.ciDriftRoleArn),
    };

    new TerraformOutput(this, "github-plan-role-arn", {
      value: planRole.roleArn,
      description: `Repository variable AWS_PLAN_ROLE_ARN_${this.config.name.toUpperCase()} (pull-request plans)`,
    });
    new TerraformOutput(this, "github-apply-role-arn", {
      value: applyRole.roleArn,
      description: `Variable AWS_APPLY_ROLE_ARN of GitHub environment ${this.config.github.environment}`,
    });
    new TerraformOutput(this, "github-container-deploy-role-arn", {
      value: deployRole.roleArn,
      description: `Variable AWS_DEPLOY_ROLE_ARN of GitHub environment ${this.config.github.controllerEnvironment}`,
    });
    new TerraformOutput(this, "github-drift-role-arn", {
      value: driftRole.roleArn,
      description: `Repository variable AWS_DRIFT_ROLE_ARN_${this.config.name.toUpperCase()} (scheduled drift check in GitHub environment ${DRIFT_ENVIRONMENT})`,
    });
    new TerraformOutput(this, "permissions-boundary-arn", {
      value: boundary.arn,
      description: "Permissions boundary every role of the app carries (stacks/shared/naming.ts permissionsBoundaryArn)",
    });
  }
}
