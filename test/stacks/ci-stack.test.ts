/**
 * The CI identities, judged by what IAM would answer (test/support/iam-eval.ts over the synthesized
 * statements), not by the policy text: the plan role reads no secrets, data or old state and writes
 * nothing; the apply role cannot leave its boundary or touch the CI identities; one subject per role.
 */
import { loadConfig } from "../../config";
import { resourceNames } from "../../stacks/shared/naming";
import { permissionsBoundaryStatements, planRoleStatements, PLAN_REFRESH_READS } from "../../stacks/shared/ci-policies";
import { applyRoleStatements, controllerDeployStatements } from "../../stacks/shared/ci-apply-policies";
import { PolicyStatement } from "../../modules/policy-document";
import { PROJECT_TAG } from "../../stacks/shared/fleet-stack";
import { CiStack } from "../../stacks/ci-stack";
import { allows, allowsWithin, explicitlyDenied, SynthStatement } from "../support/iam-eval";
import { resourcesOf, synthStack } from "../support/synth";

const config = loadConfig("dev");
const names = resourceNames(config);
const stack = synthStack((app, props) => new CiStack(app, "ci", props));
const docs = stack.tf.data!.aws_iam_policy_document as unknown as Record<string, { statement: (SynthStatement & { principals?: unknown })[] }>;
const statementsOf = (fragment: string) => Object.entries(docs).find(([name]) => name.startsWith(fragment))![1].statement;
const roles = resourcesOf(stack, "aws_iam_role");
const roleNamed = (name: string) => Object.values(roles).find((r) => r.name === name)!;

const plan = statementsOf("github-plan-role_permissions");
const applyIdentity = statementsOf("github-apply-role_permissions");
const boundary = statementsOf("permissions-boundary-document");

const account = config.accountId;
const ddb = (table: string) => `arn:aws:dynamodb:eu-west-1:${account}:table/${table}`;
const stateObject = `arn:aws:s3:::${names.stateBucket}/${config.name}/roles.tfstate`;
const secret = (name: string) => `arn:aws:secretsmanager:eu-west-1:${account}:secret:${name}-AbCdEf`;
const appRole = (name: string) => `arn:aws:iam::${account}:role/${name}`;
const withBoundary = (arn: string | undefined): Record<string, string> => (arn ? { "iam:PermissionsBoundary": arn } : {});

describe("CiStack plan role (any pull-request branch)", () => {
  test.each([names.controllerSecret, names.claimSecret])("GIVEN ReadOnlyAccess WHEN it reads the value of secret %s THEN an explicit deny stops it", (name) => {
    expect(explicitlyDenied(plan, { action: "secretsmanager:GetSecretValue", resource: secret(name) })).toBe(true);
    expect(explicitlyDenied(plan, { action: "secretsmanager:BatchGetSecretValue", resource: "*" })).toBe(true);
  });

  test("GIVEN a versioned state bucket WHEN it reads or lists old state versions THEN it is denied", () => {
    expect(explicitlyDenied(plan, { action: "s3:GetObjectVersion", resource: stateObject })).toBe(true);
    expect(explicitlyDenied(plan, { action: "s3:ListBucketVersions", resource: `arn:aws:s3:::${names.stateBucket}` })).toBe(true);
  });

  test("WHEN it reads the current state object and its digest THEN it may", () => {
    expect(allows(plan, { action: "s3:GetObject", resource: stateObject })).toBe(true);
    expect(allows(plan, { action: "s3:ListBucket", resource: `arn:aws:s3:::${names.stateBucket}` })).toBe(true);
    expect(allows(plan, { action: "dynamodb:GetItem", resource: ddb(names.stateLockTable) })).toBe(true);
  });

  test.each(["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"])("fails when it tries to write state (%s)", (action) => {
    expect(explicitlyDenied(plan, { action, resource: stateObject })).toBe(true);
  });

  test.each(["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"])("fails when it tries to write the lock table (%s)", (action) => {
    expect(explicitlyDenied(plan, { action, resource: ddb(names.stateLockTable) })).toBe(true);
  });

  test("its own statements allow no write at all", () => {
    const writes = plan
      .filter((s) => (s.effect ?? "Allow") === "Allow")
      .flatMap((s) => s.actions ?? [])
      .filter((a) => /:(Put|Delete|Create|Update|Write|BatchWrite)/.test(a));
    expect(writes).toEqual([]);
  });

  test.each(["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:PartiQLSelect"])(
    "fails when it reads registry, telemetry or building items (%s)",
    (action) => {
      for (const table of [names.registryTable, names.telemetryTable, names.telemetryConnectionsTable]) {
        expect([table, explicitlyDenied(plan, { action, resource: ddb(table) })]).toEqual([table, true]);
      }
    },
  );

  test.each(["dynamodb:GetRecords", "dynamodb:GetShardIterator"])("fails when it reads stream records (%s)", (action) => {
    expect(explicitlyDenied(plan, { action, resource: `${ddb(names.registryTable)}/stream/2026-01-01T00:00:00.000` })).toBe(true);
  });

  test.each([names.telemetryBucket, names.firmwareBucket])("fails when it reads objects of bucket %s, current or old", (bucket) => {
    expect(explicitlyDenied(plan, { action: "s3:GetObject", resource: `arn:aws:s3:::${bucket}/2026/01/01/readings.json.gz` })).toBe(true);
    expect(explicitlyDenied(plan, { action: "s3:GetObjectVersion", resource: `arn:aws:s3:::${bucket}/firmware.bin` })).toBe(true);
  });

  test.each([
    ["logs:GetLogEvents", `arn:aws:logs:eu-west-1:${account}:log-group:/aws/lambda/${names.provisioningHookFunction}:log-stream:x`],
    ["logs:FilterLogEvents", `arn:aws:logs:eu-west-1:${account}:log-group:${names.controllerLogGroup}`],
    ["logs:StartQuery", `arn:aws:logs:eu-west-1:${account}:log-group:${names.responsesLogGroup}`],
    ["kms:Decrypt", `arn:aws:kms:eu-west-1:${account}:key/1234abcd-12ab-34cd-56ef-1234567890ab`],
    ["cognito-idp:ListUsers", `arn:aws:cognito-idp:eu-west-1:${account}:userpool/eu-west-1_abc`],
    ["cognito-idp:AdminGetUser", `arn:aws:cognito-idp:eu-west-1:${account}:userpool/eu-west-1_abc`],
    ["iot:GetThingShadow", `arn:aws:iot:eu-west-1:${account}:thing/pi-0001`],
    ["iot:GetRetainedMessage", `arn:aws:iot:eu-west-1:${account}:topic/devices/pi-0001/telemetry`],
    ["sqs:ReceiveMessage", `arn:aws:sqs:eu-west-1:${account}:any`],
    ["athena:GetQueryResults", `arn:aws:athena:eu-west-1:${account}:workgroup/primary`],
    ["ecr:BatchGetImage", `arn:aws:ecr:eu-west-1:${account}:repository/${names.controllerRepository}`],
    ["ssm:GetParameter", `arn:aws:ssm:eu-west-1:${account}:parameter/anything`],
  ])("fails when it reads data ReadOnlyAccess would show (%s)", (action, resource) => {
    expect(explicitlyDenied(plan, { action, resource })).toBe(true);
  });

  test("GIVEN the documented refresh reads WHEN a plan refreshes the app THEN none of them is denied", () => {
    const resourceFor = (service: string) =>
      service === "state"
        ? stateObject
        : service === "ssm"
          ? "arn:aws:ssm:eu-west-1::parameter/aws/service/ami-amazon-linux-latest/al2023"
          : `arn:aws:${service}:eu-west-1:${account}:${config.namePrefix}-thing`;
    const denied = Object.entries(PLAN_REFRESH_READS).flatMap(([service, actions]) =>
      actions.filter((action) =>
        explicitlyDenied(plan, { action, resource: action === "dynamodb:GetItem" ? ddb(names.stateLockTable) : resourceFor(service) }),
      ),
    );
    expect(denied).toEqual([]);
  });

  test("GIVEN the published controller and claim identities WHEN a plan refreshes them THEN it may read them, and no other parameter of the account", () => {
    const parameter = (name: string) => `arn:aws:ssm:eu-west-1:${account}:parameter${name}`;
    for (const name of [names.controllerIdentityParameter, names.claimIdentityParameter]) {
      expect([name, explicitlyDenied(plan, { action: "ssm:GetParameter", resource: parameter(name) })]).toEqual([name, false]);
    }
    expect(explicitlyDenied(plan, { action: "ssm:GetParameter", resource: parameter(`/${config.namePrefix}/private-thing`) })).toBe(true);
  });

  test("GIVEN the registration API key WHEN a plan refreshes it THEN it may read it (the documented exception)", () => {
    expect(explicitlyDenied(plan, { action: "apigateway:GET", resource: "arn:aws:apigateway:eu-west-1::/apikeys/abc123" })).toBe(false);
  });

  test("it keeps AWS's ReadOnlyAccess for configuration reads", () => {
    const attachments = Object.values(resourcesOf(stack, "aws_iam_role_policy_attachment")).map((a) => [a.role, a.policy_arn]);
    expect(attachments).toEqual(expect.arrayContaining([["${aws_iam_role.github-plan-role_D4200C0B.name}", "arn:aws:iam::aws:policy/ReadOnlyAccess"]]));
    // The only other role with ReadOnlyAccess is the drift role (same statements, its own subject).
    expect(attachments.filter(([role]) => !String(role).includes("github-plan-role") && !String(role).includes("github-drift-role"))).toEqual([]);
  });
});

describe("CiStack apply role and permissions boundary", () => {
  const may = (action: string, resource: string, context: Record<string, string> = {}) => allowsWithin(applyIdentity, boundary, { action, resource, context });

  test("GIVEN the apply role THEN it carries the boundary, which lives in this stack under the names from naming.ts", () => {
    expect(roleNamed(names.ciApplyRole).permissions_boundary).toBe("${aws_iam_policy.permissions-boundary.arn}");
    expect(Object.values(resourcesOf(stack, "aws_iam_policy"))).toEqual([expect.objectContaining({ name: names.permissionsBoundaryPolicy, path: "/ci/" })]);
    expect(names.permissionsBoundaryArn).toBe(`arn:aws:iam::${account}:policy/ci/${names.permissionsBoundaryPolicy}`);
  });

  test.each([
    "iam:PutRolePolicy",
    "iam:AttachRolePolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:DeleteRolePermissionsBoundary",
    "iam:PutRolePermissionsBoundary",
    "iam:DeleteRole",
    "iam:UpdateRole",
    "iam:TagRole",
    "iam:PassRole",
  ])("fails when it changes, or hands to a service, its own role or another CI role (%s)", (action) => {
    for (const arn of [names.ciApplyRoleArn, names.ciPlanRoleArn, names.ciControllerDeployRoleArn, names.ciDriftRoleArn]) {
      expect([arn, may(action, arn, withBoundary(names.permissionsBoundaryArn))]).toEqual([arn, false]);
    }
  });

  test.each(["iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion", "iam:SetDefaultPolicyVersion"])(
    "fails when it changes the boundary (%s)",
    (action) => {
      expect(may(action, names.permissionsBoundaryArn)).toBe(false);
    },
  );

  test.each([
    "iam:UpdateOpenIDConnectProviderThumbprint",
    "iam:AddClientIDToOpenIDConnectProvider",
    "iam:DeleteOpenIDConnectProvider",
    "iam:TagOpenIDConnectProvider",
  ])("fails when it changes the GitHub OIDC provider (%s)", (action) => {
    expect(may(action, names.githubOidcProviderArn)).toBe(false);
  });

  test("GIVEN an app role WHEN the apply role creates or grants it with the boundary THEN it may", () => {
    const role = appRole(names.registerDeviceFunction);
    for (const action of ["iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:PutRolePermissionsBoundary"]) {
      expect([action, may(action, role, withBoundary(names.permissionsBoundaryArn))]).toEqual([action, true]);
    }
    expect(may("iam:PassRole", role)).toBe(true);
  });

  test.each([
    ["without a boundary", undefined],
    ["with another boundary", "arn:aws:iam::aws:policy/AdministratorAccess"],
  ])("fails when it creates or grants an app role %s", (_case, other) => {
    const role = appRole(names.registerDeviceFunction);
    for (const action of ["iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:PutRolePermissionsBoundary"]) {
      expect([action, may(action, role, withBoundary(other))]).toEqual([action, false]);
    }
  });

  test("fails when it removes the boundary from an app role", () => {
    expect(may("iam:DeleteRolePermissionsBoundary", appRole(names.registerDeviceFunction), withBoundary(names.permissionsBoundaryArn))).toBe(false);
  });

  test("fails when it creates IAM users or access keys", () => {
    expect(may("iam:CreateUser", `arn:aws:iam::${account}:user/${config.namePrefix}-x`)).toBe(false);
    expect(may("iam:CreateAccessKey", `arn:aws:iam::${account}:user/${config.namePrefix}-x`)).toBe(false);
  });

  test("fails when it rewrites the state bucket's settings or deletes old state versions", () => {
    expect(may("s3:PutBucketPolicy", `arn:aws:s3:::${names.stateBucket}`)).toBe(false);
    expect(may("s3:DeleteObjectVersion", stateObject)).toBe(false);
    expect(may("s3:PutObject", stateObject)).toBe(true);
  });

  test("GIVEN the apply role's own grants THEN every one of them fits inside its boundary", () => {
    const outside = applyIdentity
      .filter((s) => (s.effect ?? "Allow") === "Allow")
      .flatMap((s) => (s.actions ?? []).flatMap((action) => (s.resources ?? ["*"]).map((resource) => ({ sid: s.sid, action, resource }))))
      .filter(({ action, resource }) => !allows(boundary, { action, resource, context: withBoundary(names.permissionsBoundaryArn) }));
    expect(outside).toEqual([]);
  });

  test.each(["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"])(
    "fails when it reads or writes the value of a key secret (%s)",
    (action) => {
      for (const name of [names.controllerSecret, names.claimSecret]) {
        expect([name, may(action, secret(name))]).toEqual([name, false]);
      }
      expect(may("secretsmanager:CreateSecret", secret(names.claimSecret))).toBe(true);
    },
  );

  test("GIVEN the published identities WHEN the apply role writes them THEN it may, and no other parameter", () => {
    expect(may("ssm:PutParameter", `arn:aws:ssm:eu-west-1:${account}:parameter${names.controllerIdentityParameter}`)).toBe(true);
    expect(may("ssm:PutParameter", `arn:aws:ssm:eu-west-1:${account}:parameter/other/thing`)).toBe(false);
  });

  test("GIVEN the boundary WHEN the apply role does its job THEN it still may", () => {
    expect(may("lambda:CreateFunction", `arn:aws:lambda:eu-west-1:${account}:function:${names.registerDeviceFunction}`)).toBe(true);
    expect(may("dynamodb:CreateTable", ddb(names.registryTable))).toBe(true);
    expect(may("iot:CreateTopicRule", `arn:aws:iot:eu-west-1:${account}:rule/${names.errorsRule}`)).toBe(true);
    expect(may("dynamodb:PutItem", ddb(names.stateLockTable))).toBe(true);
  });
});

describe("CiStack trust", () => {
  const trusts = Object.entries(docs).filter(([name]) => name.startsWith("github-") && name.endsWith("-trust"));
  const subjectOf = (doc: (typeof trusts)[number][1]) =>
    doc.statement.flatMap((s) => (s.condition ?? []).filter((c) => c.variable.endsWith(":sub")).flatMap((c) => c.values));

  test("no two roles trust the same OIDC subject", () => {
    const subjects = trusts.flatMap(([, doc]) => subjectOf(doc));
    expect(trusts).toHaveLength(4);
    expect(new Set(subjects).size).toBe(subjects.length);
  });

  test.each([
    ["github-plan-trust", "repo:smart-home/smart-home-fleet-iac:pull_request"],
    ["github-apply-trust", "repo:smart-home/smart-home-fleet-iac:environment:dev"],
    ["github-deploy-trust", "repo:smart-home/smart-home-fleet-iac:environment:dev-controller"],
    ["github-drift-trust", "repo:smart-home/smart-home-fleet-iac:environment:drift"],
  ])("%s trusts only %s with the STS audience", (doc, subject) => {
    expect(subjectOf(docs[doc])).toEqual([subject]);
    expect(docs[doc].statement[0].condition).toEqual(
      expect.arrayContaining([expect.objectContaining({ variable: "token.actions.githubusercontent.com:aud", values: ["sts.amazonaws.com"] })]),
    );
  });

  test("the CI roles live under /ci/, outside every role/<prefix>-* grant", () => {
    expect(Object.values(roles).map((r) => [r.name, r.path])).toEqual(
      expect.arrayContaining([
        [names.ciPlanRole, "/ci/"],
        [names.ciApplyRole, "/ci/"],
        [names.ciControllerDeployRole, "/ci/"],
        [names.ciDriftRole, "/ci/"],
      ]),
    );
    expect(allows(applyIdentity, { action: "iam:PutRolePolicy", resource: names.ciApplyRoleArn })).toBe(false);
  });

  test("every output says which GitHub variable it fills", () => {
    const outputs = stack.tf.output ?? {};
    expect(Object.keys(outputs).sort()).toEqual([
      "github-apply-role-arn",
      "github-container-deploy-role-arn",
      "github-drift-role-arn",
      "github-plan-role-arn",
      "permissions-boundary-arn",
    ]);
    for (const output of Object.values(outputs)) expect(output.description).toBeTruthy();
    expect(outputs["github-container-deploy-role-arn"].description).toContain("dev-controller");
  });
});

describe("CI policies and IAM's size quotas", () => {
  /** The policy as IAM stores it (no whitespace), which is what its quotas count. */
  const iamJson = (statements: PolicyStatement[]) =>
    JSON.stringify({
      Version: "2012-10-17",
      Statement: statements.map((x) => ({
        Sid: x.sid,
        Effect: x.effect ?? "Allow",
        Action: x.actions,
        ...(x.resources ? { Resource: x.resources } : {}),
        ...(x.notResources ? { NotResource: x.notResources } : {}),
        ...(x.conditions ? { Condition: Object.fromEntries(x.conditions.map((c) => [c.test, { [c.variable]: c.values }])) } : {}),
      })),
    }).length;

  test.each(["dev", "prod"])("GIVEN %s THEN the boundary fits a managed policy (6,144) and each role's inline policy the role quota (10,240)", (env) => {
    const scope = { config: loadConfig(env), names: resourceNames(loadConfig(env)) };
    expect(iamJson(permissionsBoundaryStatements(scope))).toBeLessThan(6144);
    for (const statements of [planRoleStatements(scope), applyRoleStatements(scope, PROJECT_TAG), controllerDeployStatements(scope)]) {
      expect(iamJson(statements)).toBeLessThan(10240);
    }
  });
});

describe("CiStack drift role (scheduled drift check)", () => {
  const drift = statementsOf("github-drift-role_permissions");

  test("GIVEN the drift role THEN its own statements are exactly the plan role's (as narrow, same denies)", () => {
    expect(drift).toEqual(plan);
  });

  test("GIVEN the drift role THEN it keeps ReadOnlyAccess and no permissions boundary, like the plan role", () => {
    const attachments = Object.values(resourcesOf(stack, "aws_iam_role_policy_attachment")).filter((a) => String(a.role).includes("github-drift-role"));
    expect(attachments.map((a) => a.policy_arn)).toEqual(["arn:aws:iam::aws:policy/ReadOnlyAccess"]);
    expect(roleNamed(names.ciDriftRole).permissions_boundary).toBeUndefined();
  });

  test("GIVEN the drift role WHEN it reads a secret value or writes state THEN it is denied", () => {
    expect(explicitlyDenied(drift, { action: "secretsmanager:GetSecretValue", resource: secret(names.controllerSecret) })).toBe(true);
    expect(explicitlyDenied(drift, { action: "s3:PutObject", resource: stateObject })).toBe(true);
  });
});
