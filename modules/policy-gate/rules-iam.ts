/** IAM rules: wildcards, PassRole, OIDC trust, boundaries, and the pull-request role's read-only reach. */
import { equivalents, finding, NONE, Rule } from "./rule";
import { allDocuments, identityDocuments, mayAllow, mayAllowSomewhere, oidcClaim, roleModel, trustsOidc } from "./iam-model";
import { Statement } from "./stack-view";

/**
 * Actions that accept only `Resource: "*"` (or list or read account-wide settings) and may therefore
 * be granted on `*` without a condition. Anything else on `*` needs a scoped resource or a condition.
 */
export const STAR_ONLY_ACTIONS: readonly string[] = [
  "ecr:GetAuthorizationToken",
  "sts:GetCallerIdentity",
  "dynamodb:ListStreams",
  "dynamodb:ListTables",
  "iot:DescribeEndpoint",
  "iot:GetIndexingConfiguration",
  "iot:UpdateIndexingConfiguration",
  "iot:GetV2LoggingOptions",
  "iot:SetV2LoggingOptions",
  "iot:ListTagsForResource",
  "kms:ListAliases",
  "kms:ListKeys",
  "lambda:GetAccountSettings",
  "lambda:ListFunctions",
  "lambda:ListEventSourceMappings",
  "logs:DescribeLogGroups",
  "logs:ListTagsForResource",
  "logs:ListTagsLogGroup",
  "ssm:DescribeParameters",
  "ssm:GetCommandInvocation",
  "ssm:ListCommandInvocations",
  "ec2:DescribeInstances",
  "ec2:Describe*",
  "cloudwatch:PutMetricData",
  "xray:PutTraceSegments",
  "xray:PutTelemetryRecords",
  "s3:ListAllMyBuckets",
];

const onEverything = (s: Statement) => !s.resources || s.resources.includes("*");
const allowed = (s: Statement) => s.effect !== "Deny";
const isPassRole = (a: string) => /^iam:(\*|pass\*|passrole)$/i.test(a);

/** IAM writes that let a role change what roles may do: who holds them must be inside a boundary. */
const IAM_WRITES = [
  "iam:CreateRole",
  "iam:PutRolePolicy",
  "iam:AttachRolePolicy",
  "iam:CreatePolicy",
  "iam:CreatePolicyVersion",
  "iam:CreateUser",
  "iam:PutUserPolicy",
  "iam:AttachUserPolicy",
  "iam:UpdateAssumeRolePolicy",
  "iam:DeleteRolePermissionsBoundary",
  "iam:PutRolePermissionsBoundary",
];

/** What a pull-request role must never reach: secret values, application data, and any write. */
const PR_PROBES: readonly [string, string, string][] = [
  ["secretsmanager:GetSecretValue", "arn:aws:secretsmanager:*:*:secret:any", "reads secret values"],
  ["s3:GetObject", "arn:aws:s3:::application-data-bucket/object", "reads objects outside the state bucket"],
  ["dynamodb:GetItem", "arn:aws:dynamodb:*:*:table/application-table", "reads application table items"],
  ["dynamodb:Scan", "arn:aws:dynamodb:*:*:table/application-table", "scans application tables"],
  ["ssm:GetParameter", "arn:aws:ssm:*:*:parameter/private/value", "reads private SSM parameters"],
  ["kms:Decrypt", "arn:aws:kms:*:*:key/any", "decrypts with KMS keys"],
  ["logs:GetLogEvents", "arn:aws:logs:*:*:log-group:any:log-stream:any", "reads log events"],
  ["s3:PutObject", "*", "writes S3 objects"],
  ["dynamodb:PutItem", "*", "writes DynamoDB items"],
  ["iam:CreateRole", "*", "creates IAM roles"],
  ["lambda:UpdateFunctionCode", "*", "changes Lambda code"],
  ["ec2:RunInstances", "*", "launches instances"],
  ["sts:AssumeRole", "*", "assumes other roles"],
  ["iot:Publish", "*", "publishes MQTT messages"],
  ["ssm:SendCommand", "*", "runs commands on instances"],
];

export const iamRules: Rule[] = [
  {
    id: "IAM-NO-STAR-ACTION",
    family: "IAM",
    title: 'No policy allows Action "*"',
    why: "Action * grants every present and future action of every service: full administrator",
    fix: "name the actions the principal needs",
    equivalents: equivalents({ checkov: "CKV_AWS_1, CKV_AWS_62", trivy: "AVD-AWS-0057", cdkNag: "AwsSolutions-IAM5" }),
    check: (view) =>
      allDocuments(view)
        .filter((d) => d.statements.some((s) => allowed(s) && (s.actions ?? []).includes("*")))
        .map((d) => finding(d.owner, "a statement allows Action *")),
  },
  {
    id: "IAM-NO-SERVICE-STAR-ON-ALL",
    family: "IAM",
    title: "No identity policy allows service:* on every resource (a permissions boundary may)",
    why: "service:* on * hands over a whole service, including its privilege-escalation and data-destruction actions",
    fix: "scope the resources to this app's ARNs, or name the actions",
    equivalents: equivalents({ checkov: "CKV_AWS_355, CKV_AWS_290", trivy: "AVD-AWS-0057", cdkNag: "AwsSolutions-IAM5" }),
    check: (view) =>
      identityDocuments(view).flatMap((d) =>
        d.statements
          .filter((s) => allowed(s) && onEverything(s))
          .flatMap((s) => (s.actions ?? []).filter((a) => /^[a-z0-9-]+:\*$/i.test(a)).map((a) => finding(d.owner, `it allows ${a} on every resource`))),
      ),
  },
  {
    id: "IAM-NO-PASSROLE-ON-ALL",
    family: "IAM",
    title: "No policy allows iam:PassRole on every resource",
    why: "PassRole on * lets the holder hand any role, including administrators, to a service it controls",
    fix: "list the role ARNs it may pass, and add an iam:PassedToService condition",
    equivalents: equivalents({ checkov: "CKV_AWS_286" }),
    check: (view) =>
      identityDocuments(view).flatMap((d) =>
        d.statements
          .filter((s) => allowed(s) && onEverything(s) && (s.actions ?? []).some(isPassRole))
          .map(() => finding(d.owner, "it allows iam:PassRole on every resource")),
      ),
  },
  {
    id: "IAM-STAR-RESOURCE-ALLOWLIST",
    family: "IAM",
    title: 'Resource "*" without a condition only for actions that accept nothing else (STAR_ONLY_ACTIONS)',
    why: "every other action can be scoped to the app's own ARNs; * reaches other workloads in the account",
    fix: "scope the resources, add a condition (e.g. aws:ResourceTag or lambda:FunctionArn), or, for an action that truly only takes *, add it to STAR_ONLY_ACTIONS",
    equivalents: equivalents({ checkov: "CKV_AWS_355", trivy: "AVD-AWS-0057", cdkNag: "AwsSolutions-IAM5" }),
    check: (view) =>
      identityDocuments(view).flatMap((d) =>
        d.statements
          .filter((s) => allowed(s) && onEverything(s) && !s.condition?.length)
          .flatMap((s) =>
            (s.actions ?? [])
              .filter((a) => !STAR_ONLY_ACTIONS.includes(a) && a !== "*" && !/:\*$/.test(a))
              .map((a) => finding(d.owner, `it allows ${a} on every resource without a condition`)),
          ),
      ),
  },
  {
    id: "IAM-OIDC-TRUST-SCOPED",
    family: "IAM",
    title: "Roles trusting GitHub's OIDC provider require aud = sts.amazonaws.com and an exact repository subject",
    why: "without a sub condition any GitHub repository, anyone's, can assume the role",
    fix: "StringEquals token.actions.githubusercontent.com:aud = sts.amazonaws.com and :sub = repo:<org>/<repo>:environment:<env> (or :pull_request)",
    equivalents: equivalents({ checkov: "CKV_AWS_358" }),
    check: (view) =>
      view.resources("aws_iam_role").flatMap((role) =>
        roleModel(view, role)
          .trust.filter(trustsOidc)
          .flatMap((s) => {
            const aud = oidcClaim(s, "aud");
            const sub = oidcClaim(s, "sub");
            const problems: string[] = [];
            if (!aud.some((c) => c.test === "StringEquals" && c.values.length > 0 && c.values.every((v) => v === "sts.amazonaws.com")))
              problems.push("the trust policy does not require aud = sts.amazonaws.com");
            if (sub.length === 0) problems.push("the trust policy does not restrict the sub claim");
            for (const c of sub)
              for (const v of c.values) if (!/^repo:[^*?/:]+\/[^*?/:]+:[^*?]+$/.test(v)) problems.push(`sub ${v} is not one exact repository and context`);
            return problems.map((p) => finding(role, p));
          }),
      ),
  },
  {
    id: "IAM-OIDC-SUBJECT-UNIQUE",
    family: "IAM",
    title: "No two roles trust the same OIDC subject",
    why: "a workflow that can assume two roles holds the sum of both; the plan role's limits mean nothing if its subject also opens the apply role",
    fix: "give each role its own GitHub environment (subject repo:<org>/<repo>:environment:<name>)",
    equivalents: NONE,
    check: (view) => {
      const bySubject = new Map<string, string[]>();
      for (const other of view.app()) {
        for (const role of other.resources("aws_iam_role")) {
          for (const s of roleModel(other, role).trust.filter(trustsOidc))
            for (const c of oidcClaim(s, "sub")) for (const v of c.values) bySubject.set(v, [...(bySubject.get(v) ?? []), `${other.stack}:${role.address}`]);
        }
      }
      return view.resources("aws_iam_role").flatMap((role) => {
        const me = `${view.stack}:${role.address}`;
        return [...bySubject.entries()]
          .filter(([, roles]) => roles.includes(me) && roles.length > 1)
          .map(([subject, roles]) => finding(role, `subject ${subject} also opens ${roles.filter((r) => r !== me).join(", ")}`));
      });
    },
  },
  {
    id: "IAM-WRITERS-HAVE-BOUNDARY",
    family: "IAM",
    title: "Roles that may write IAM carry a permissions boundary",
    why: "a role that creates or edits roles can otherwise mint itself an administrator (the self-escalating apply role)",
    fix: "set permissions_boundary, and require it on the roles it creates with an iam:PermissionsBoundary condition",
    equivalents: equivalents({ checkov: "CKV_AWS_286 (privilege escalation)" }),
    check: (view) =>
      view.resources("aws_iam_role").flatMap((role) => {
        if (role.body.permissions_boundary) return [];
        const model = roleModel(view, role);
        const writes = IAM_WRITES.filter((a) => mayAllowSomewhere(model.statements, a));
        return writes.length ? [finding(role, `it may call ${writes.join(", ")} and has no permissions boundary`)] : [];
      }),
  },
  {
    id: "IAM-PR-ROLE-READ-ONLY",
    family: "IAM",
    title: "Roles that pull requests assume read no secrets, no data and write nothing",
    why: "any branch can open a pull request; its workflow must not be able to exfiltrate secrets or data or change anything",
    fix: "keep the plan role to ReadOnlyAccess plus explicit Denies on secret values, object/item reads outside state and decryption; no write actions",
    equivalents: NONE,
    check: (view) =>
      view.resources("aws_iam_role").flatMap((role) => {
        const model = roleModel(view, role);
        const forPullRequests = model.trust
          .filter(trustsOidc)
          .some((s) => oidcClaim(s, "sub").some((c) => c.values.some((v) => /:pull_request$/.test(v) || /\*/.test(v))));
        if (!forPullRequests) return [];
        const reach = PR_PROBES.filter(([action, resource]) => mayAllow(model.statements, action, resource)).map(([action, , what]) => `${what} (${action})`);
        const unknown = model.unknownManagedPolicies.map((arn) => `attaches ${arn}, which the gate cannot evaluate`);
        return [...reach, ...unknown].map((p) => finding(role, `a pull-request role ${p}`));
      }),
  },
];
