/**
 * What each CI identity may do, as plain statements: the `ci` stack turns them into IAM policies and the
 * tests evaluate the very same statements. Three roles, three subjects:
 * - plan (any pull-request branch): read state and configuration; no secret values, no data, no writes;
 * - apply (GitHub environment `<env>`): manage the app's resources inside the permissions boundary;
 * - controller deploy (GitHub environment `<env>-controller`): push the image, run the deploy script.
 * The apply and controller-deploy statements, which write, are in ci-apply-policies.ts.
 */
import { EnvironmentConfig } from "../../config";
import { ResourceNames } from "./naming";
import { PolicyStatement } from "../../modules/policy-document";

export const GITHUB_OIDC_HOST = "token.actions.githubusercontent.com";

/** Services whose every action the boundary leaves to identity policies (AmazonSSMManagedInstanceCore: ssm, ssmmessages, ec2messages). */
export const BOUNDARY_SERVICES = [
  "apigateway",
  "cloudwatch",
  "cognito-idp",
  "dynamodb",
  "ec2",
  "ec2messages",
  "ecr",
  "events",
  "execute-api",
  "firehose",
  "athena",
  "glue",
  "iot",
  "kms",
  "lambda",
  "logs",
  "s3",
  "scheduler",
  "secretsmanager",
  "sns",
  "sqs",
  "ssm",
  "ssmmessages",
] as const;

/** IAM writes that could change who a role is or what it may do. */
const IAM_WRITES = [
  "iam:Add*",
  "iam:Attach*",
  "iam:Create*",
  "iam:Delete*",
  "iam:Detach*",
  "iam:Pass*",
  "iam:Put*",
  "iam:Remove*",
  "iam:Set*",
  "iam:Tag*",
  "iam:Untag*",
  "iam:Update*",
  "iam:Upload*",
] as const;

/** Role writes that IAM checks against `iam:PermissionsBoundary` (the boundary the role has or gets). */
export const BOUNDED_ROLE_WRITES = ["iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:PutRolePermissionsBoundary"] as const;

export interface CiScope {
  readonly config: EnvironmentConfig;
  readonly names: ResourceNames;
}

export const arnOf = (s: CiScope) => (service: string, resource: string) => `arn:aws:${service}:${s.config.region}:${s.config.accountId}:${resource}`;
export const iamArn = (s: CiScope, resource: string) => `arn:aws:iam::${s.config.accountId}:${resource}`;

/** The CI identities and the boundary: what no role the apply role manages may ever touch. */
export function ciIdentityArns(s: CiScope): string[] {
  const { names } = s;
  return [names.ciPlanRoleArn, names.ciApplyRoleArn, names.ciControllerDeployRoleArn, names.permissionsBoundaryArn, names.githubOidcProviderArn];
}

/**
 * The permissions boundary: the most the apply role, and every role it creates, can ever do. Whole
 * services the app uses (a ceiling; identity policies still grant the least each role needs), IAM only
 * on the app's own roles, and explicit denies that keep the boundary in place and the CI identities out
 * of reach.
 */
export function permissionsBoundaryStatements(s: CiScope): PolicyStatement[] {
  const { names } = s;
  return [
    { sid: "AppServices", actions: BOUNDARY_SERVICES.map((service) => `${service}:*`), resources: ["*"] },
    { sid: "IamReads", actions: ["iam:Get*", "iam:List*"], resources: ["*"] },
    { sid: "AppRoles", actions: ["iam:*"], resources: [iamArn(s, `role/${names.namePattern}`), iamArn(s, `instance-profile/${names.namePattern}`)] },
    {
      sid: "DenyCiIdentityChanges",
      effect: "Deny",
      actions: [...IAM_WRITES, "sts:AssumeRole"],
      resources: ciIdentityArns(s),
    },
    {
      sid: "DenyRolesWithoutThisBoundary",
      effect: "Deny",
      actions: [...BOUNDED_ROLE_WRITES],
      resources: ["*"],
      conditions: [{ test: "StringNotEquals", variable: "iam:PermissionsBoundary", values: [names.permissionsBoundaryArn] }],
    },
    // The state backend is the administrator's (state stack): its objects are written, its history and settings never changed.
    {
      sid: "DenyStateBackendChanges",
      effect: "Deny",
      actions: [
        "s3:DeleteBucket*",
        "s3:PutBucket*",
        "s3:PutLifecycleConfiguration",
        "s3:PutEncryptionConfiguration",
        "s3:PutReplicationConfiguration",
        "s3:DeleteObjectVersion*",
      ],
      resources: [`arn:aws:s3:::${names.stateBucket}`, `arn:aws:s3:::${names.stateBucket}/*`],
    },
    {
      sid: "DenyLockTableChanges",
      effect: "Deny",
      actions: ["dynamodb:DeleteTable", "dynamodb:UpdateTable"],
      resources: [arnOf(s)("dynamodb", `table/${names.stateLockTable}`)],
    },
    { sid: "DenyBoundaryRemoval", effect: "Deny", actions: ["iam:DeleteRolePermissionsBoundary", "iam:DeleteUserPermissionsBoundary"], resources: ["*"] },
  ];
}

/** Read the state object and its digest (the S3 backend checks it); never its old versions. */
function stateReadStatements(s: CiScope): PolicyStatement[] {
  const { names } = s;
  return [
    { sid: "StateList", actions: ["s3:ListBucket"], resources: [`arn:aws:s3:::${names.stateBucket}`] },
    { sid: "StateRead", actions: ["s3:GetObject"], resources: [`arn:aws:s3:::${names.stateBucket}/*`] },
    { sid: "StateDigest", actions: ["dynamodb:GetItem", "dynamodb:DescribeTable"], resources: [arnOf(s)("dynamodb", `table/${names.stateLockTable}`)] },
  ];
}

/**
 * Read APIs `terraform plan` calls to refresh the app's resources (per service, as the provider's read
 * functions call them). AWS's ReadOnlyAccess grants them; the plan role's denies must leave them all.
 * The one data value among them: `apigateway:GET` on the registration API key returns the key value,
 * which the provider reads on refresh and keeps in state (documented exception).
 */
export const PLAN_REFRESH_READS: Readonly<Record<string, readonly string[]>> = {
  state: ["s3:ListBucket", "s3:GetObject", "dynamodb:GetItem"],
  apigateway: ["apigateway:GET"],
  athena: ["athena:GetWorkGroup", "athena:GetNamedQuery", "athena:ListNamedQueries", "athena:ListTagsForResource"],
  cloudwatch: ["cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource", "cloudwatch:GetDashboard"],
  "cognito-idp": ["cognito-idp:DescribeUserPool", "cognito-idp:DescribeUserPoolClient", "cognito-idp:GetUserPoolMfaConfig"],
  dynamodb: ["dynamodb:DescribeTable", "dynamodb:DescribeContinuousBackups", "dynamodb:DescribeTimeToLive", "dynamodb:ListTagsOfResource"],
  ec2: [
    "ec2:DescribeVpcs",
    "ec2:DescribeVpcAttribute",
    "ec2:DescribeSubnets",
    "ec2:DescribeRouteTables",
    "ec2:DescribeInternetGateways",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSecurityGroupRules",
    "ec2:DescribeAddresses",
    "ec2:DescribeFlowLogs",
    "ec2:DescribeLaunchTemplates",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:DescribeInstances",
    "ec2:DescribeInstanceAttribute",
    "ec2:DescribeVolumes",
    "ec2:DescribeTags",
  ],
  ecr: ["ecr:DescribeRepositories", "ecr:GetLifecyclePolicy", "ecr:ListTagsForResource"],
  events: ["events:DescribeRule", "events:ListTargetsByRule", "events:ListTagsForResource"],
  firehose: ["firehose:DescribeDeliveryStream", "firehose:ListTagsForDeliveryStream"],
  glue: ["glue:GetDatabase", "glue:GetTable", "glue:GetTags"],
  iam: ["iam:GetRole", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies", "iam:GetInstanceProfile", "iam:GetOpenIDConnectProvider"],
  iot: [
    "iot:DescribeEndpoint",
    "iot:GetPolicy",
    "iot:DescribeCertificate",
    "iot:DescribeThing",
    "iot:DescribeThingType",
    "iot:DescribeThingGroup",
    "iot:ListThingPrincipals",
    "iot:ListAttachedPolicies",
    "iot:GetTopicRule",
    "iot:DescribeProvisioningTemplate",
    "iot:GetV2LoggingOptions",
    "iot:GetIndexingConfiguration",
    "iot:ListTagsForResource",
  ],
  kms: ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags", "kms:ListAliases"],
  lambda: [
    "lambda:GetFunction",
    "lambda:GetFunctionCodeSigningConfig",
    "lambda:ListVersionsByFunction",
    "lambda:GetPolicy",
    "lambda:GetFunctionConcurrency",
    "lambda:GetEventSourceMapping",
    "lambda:GetFunctionEventInvokeConfig",
    "lambda:ListTags",
  ],
  logs: ["logs:DescribeLogGroups", "logs:DescribeLogStreams", "logs:DescribeMetricFilters", "logs:ListTagsForResource"],
  scheduler: ["scheduler:GetSchedule"],
  secretsmanager: ["secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy"],
  sqs: ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListQueueTags"],
  sns: ["sns:GetTopicAttributes", "sns:GetSubscriptionAttributes", "sns:ListTagsForResource"],
  ssm: ["ssm:GetParameters", "ssm:GetParameter", "ssm:DescribeParameters", "ssm:ListTagsForResource"],
  s3: [
    "s3:GetBucketPolicy",
    "s3:GetBucketVersioning",
    "s3:GetEncryptionConfiguration",
    "s3:GetLifecycleConfiguration",
    "s3:GetBucketPublicAccessBlock",
    "s3:GetBucketOwnershipControls",
    "s3:GetBucketTagging",
  ],
};

/**
 * The plan role's own statements, next to AWS's ReadOnlyAccess: the state it plans against, and
 * explicit denies for every read of data or secrets ReadOnlyAccess would allow. An explicit deny wins
 * over any allow, so these hold whatever ReadOnlyAccess grows into.
 */
export function planRoleStatements(s: CiScope): PolicyStatement[] {
  const { names, config } = s;
  const arn = arnOf(s);
  const stateBucket = `arn:aws:s3:::${names.stateBucket}`;
  const lockTable = arn("dynamodb", `table/${names.stateLockTable}`);
  return [
    ...stateReadStatements(s),
    { sid: "DenySecretValues", effect: "Deny", actions: ["secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue"], resources: ["*"] },
    // Old versions of the state may hold values no longer in the current one.
    { sid: "DenyOldVersions", effect: "Deny", actions: ["s3:GetObjectVersion*", "s3:ListBucketVersions"], resources: ["*"] },
    {
      sid: "DenyObjectsButState",
      effect: "Deny",
      actions: ["s3:GetObject", "s3:GetObjectAttributes", "s3:GetObjectTorrent"],
      notResources: [`${stateBucket}/*`],
    },
    {
      sid: "DenyStateWrites",
      effect: "Deny",
      actions: ["s3:Put*", "s3:Delete*", "s3:Replicate*", "s3:RestoreObject"],
      resources: [stateBucket, `${stateBucket}/*`],
    },
    {
      sid: "DenyLockWrites",
      effect: "Deny",
      actions: ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"],
      resources: [lockTable],
    },
    {
      sid: "DenyItemReads",
      effect: "Deny",
      actions: ["dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:PartiQLSelect", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
      resources: ["*"],
    },
    // The lock table holds only lock records and state digests.
    { sid: "DenyItemsButStateDigest", effect: "Deny", actions: ["dynamodb:GetItem"], notResources: [lockTable] },
    {
      sid: "DenyLogEvents",
      effect: "Deny",
      actions: [
        "logs:GetLogEvents",
        "logs:FilterLogEvents",
        "logs:StartQuery",
        "logs:GetQueryResults",
        "logs:GetLogRecord",
        "logs:StartLiveTail",
        "logs:Unmask",
      ],
      resources: ["*"],
    },
    { sid: "DenyDecrypt", effect: "Deny", actions: ["kms:Decrypt", "kms:ReEncryptFrom", "kms:GenerateDataKey*"], resources: ["*"] },
    {
      sid: "DenyDashboardUsers",
      effect: "Deny",
      actions: [
        "cognito-idp:ListUsers",
        "cognito-idp:ListUsersInGroup",
        "cognito-idp:AdminGetUser",
        "cognito-idp:AdminListGroupsForUser",
        "cognito-idp:AdminListDevices",
        "cognito-idp:AdminGetDevice",
        "cognito-idp:AdminListUserAuthEvents",
      ],
      resources: ["*"],
    },
    {
      sid: "DenyMessagesAndResults",
      effect: "Deny",
      actions: [
        "sqs:ReceiveMessage",
        "kinesis:GetRecords",
        "kinesis:GetShardIterator",
        "kinesis:SubscribeToShard",
        "athena:GetQueryResults",
        "athena:GetQueryResultsStream",
        "iot:GetThingShadow",
        "iot:ListNamedShadowsForThing",
        "iot:GetRetainedMessage",
        "iot:ListRetainedMessages",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "ec2:GetPasswordData",
        "ec2:GetConsoleOutput",
        "ec2:GetConsoleScreenshot",
        "ssm:GetCommandInvocation",
      ],
      resources: ["*"],
    },
    // The account's own parameters may be SecureStrings. Readable: AWS's public ones (the AMI) and the
    // app's public path, which holds only public identities (certificates, endpoint) by contract.
    {
      sid: "DenyOwnParameters",
      effect: "Deny",
      actions: ["ssm:GetParameter*"],
      notResources: [`arn:aws:ssm:*::parameter/aws/*`, `arn:aws:ssm:*:${config.accountId}:parameter${names.publicParameterPath}*`],
    },
  ];
}

/**
 * GitHub environment of the scheduled drift check (.github/workflows/drift.yml). A scheduled run's
 * OIDC subject would otherwise be the branch's (`ref:refs/heads/main`), shared with every push job;
 * the environment gives it a subject of its own, trusted only by the read-only drift role.
 */
export const DRIFT_ENVIRONMENT = "drift";

/** The OIDC subject each CI role trusts: one role, one subject. */
export function githubSubjects(config: EnvironmentConfig): { plan: string; apply: string; controllerDeploy: string; drift: string } {
  const repo = `repo:${config.github.owner}/${config.github.repository}`;
  return {
    plan: `${repo}:pull_request`,
    drift: `${repo}:environment:${DRIFT_ENVIRONMENT}`,
    apply: `${repo}:environment:${config.github.environment}`,
    controllerDeploy: `${repo}:environment:${config.github.controllerEnvironment}`,
  };
}
