/**
 * What each CI identity may do, as plain statements: the `ci` stack turns them into IAM policies and the
 * tests evaluate the very same statements. Three roles, three subjects:
 * - plan (any pull-request branch): read state and configuration; no secret values, no data, no writes;
 * - apply (GitHub environment `<env>`): manage the app's resources inside the permissions boundary;
 * - controller deploy (GitHub environment `<env>-controller`): push the image, run the deploy script.
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

const arnOf = (s: CiScope) => (service: string, resource: string) => `arn:aws:${service}:${s.config.region}:${s.config.accountId}:${resource}`;
const iamArn = (s: CiScope, resource: string) => `arn:aws:iam::${s.config.accountId}:${resource}`;

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
 * What `terraform apply` of this app manages, each service limited to this environment's name prefix
 * where the service supports resource-level permissions, and to the region otherwise. IAM reaches only
 * the app's roles (`role/<prefix>-*`, path `/`): the CI identities live under `/ci/`, and the boundary
 * denies touching them anyway.
 */
export function applyRoleStatements(s: CiScope, projectTag: string): PolicyStatement[] {
  const { names, config } = s;
  const arn = arnOf(s);
  const p = names.namePattern;
  const region = config.region;
  const inRegion = [{ test: "StringEquals", variable: "aws:RequestedRegion", values: [region] }];
  return [
    { sid: "StateList", actions: ["s3:ListBucket"], resources: [`arn:aws:s3:::${names.stateBucket}`] },
    { sid: "StateObjects", actions: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], resources: [`arn:aws:s3:::${names.stateBucket}/*`] },
    {
      sid: "StateLock",
      actions: ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:DescribeTable"],
      resources: [arn("dynamodb", `table/${names.stateLockTable}`)],
    },
    { sid: "Buckets", actions: ["s3:*"], resources: [`arn:aws:s3:::${p}`, `arn:aws:s3:::${p}/*`] },
    { sid: "Tables", actions: ["dynamodb:*"], resources: [arn("dynamodb", `table/${p}`)] },
    { sid: "Functions", actions: ["lambda:*"], resources: [arn("lambda", `function:${p}`)] },
    { sid: "LambdaReads", actions: ["lambda:GetAccountSettings", "lambda:ListFunctions"], resources: ["*"] },
    // Stream triggers: mapping ids are random, so creation is scoped by the function it invokes.
    {
      sid: "StreamTriggerCreate",
      actions: ["lambda:CreateEventSourceMapping"],
      resources: ["*"],
      conditions: [{ test: "ArnLike", variable: "lambda:FunctionArn", values: [arn("lambda", `function:${p}`)] }],
    },
    { sid: "StreamTriggerList", actions: ["lambda:ListEventSourceMappings"], resources: ["*"] },
    {
      sid: "StreamTriggers",
      actions: ["lambda:GetEventSourceMapping", "lambda:UpdateEventSourceMapping", "lambda:DeleteEventSourceMapping", "lambda:TagResource", "lambda:ListTags"],
      resources: [arn("lambda", "event-source-mapping:*")],
    },
    { sid: "DeadLetterQueues", actions: ["sqs:*"], resources: [arn("sqs", p)] },
    {
      sid: "Logs",
      actions: ["logs:*"],
      resources: [arn("logs", `log-group:/${names.namePathPattern}`), arn("logs", `log-group:/aws/lambda/${p}`), arn("logs", "log-group:AWSIotLogsV2*")],
    },
    { sid: "LogReads", actions: ["logs:DescribeLogGroups", "logs:ListTagsForResource", "logs:ListTagsLogGroup"], resources: ["*"] },
    { sid: "Alerts", actions: ["sns:*"], resources: [arn("sns", p)] },
    { sid: "Secrets", actions: ["secretsmanager:*"], resources: [arn("secretsmanager", `secret:${names.namePathPattern}`)] },
    // Terraform manages the key secrets but never their values (`npm run identity` writes those).
    {
      sid: "DenySecretValues",
      effect: "Deny",
      actions: [
        "secretsmanager:GetSecretValue",
        "secretsmanager:BatchGetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
      ],
      resources: ["*"],
    },
    {
      sid: "PublicParameters",
      actions: [
        "ssm:PutParameter",
        "ssm:GetParameter",
        "ssm:GetParameters",
        "ssm:DeleteParameter",
        "ssm:AddTagsToResource",
        "ssm:RemoveTagsFromResource",
        "ssm:ListTagsForResource",
      ],
      resources: [arn("ssm", `parameter${names.publicParameterPath}*`)],
    },
    { sid: "ParameterReads", actions: ["ssm:DescribeParameters"], resources: ["*"] },
    { sid: "Images", actions: ["ecr:*"], resources: [arn("ecr", `repository/${p}`)] },
    { sid: "EcrLogin", actions: ["ecr:GetAuthorizationToken"], resources: ["*"] },
    { sid: "Iot", actions: ["iot:*"], resources: [`arn:aws:iot:${region}:${config.accountId}:*`] },
    {
      sid: "IotAccountSettings",
      actions: [
        "iot:GetIndexingConfiguration",
        "iot:UpdateIndexingConfiguration",
        "iot:GetV2LoggingOptions",
        "iot:SetV2LoggingOptions",
        "iot:DescribeEndpoint",
        "iot:ListTagsForResource",
      ],
      resources: ["*"],
    },
    {
      sid: "Api",
      actions: [
        "apigateway:GET",
        "apigateway:POST",
        "apigateway:PUT",
        "apigateway:PATCH",
        "apigateway:DELETE",
        "apigateway:TagResource",
        "apigateway:UntagResource",
      ],
      resources: [`arn:aws:apigateway:${region}::/*`],
    },
    { sid: "Schedules", actions: ["events:*"], resources: [arn("events", `rule/${p}`)] },
    { sid: "TelemetryDelivery", actions: ["firehose:*"], resources: [arn("firehose", `deliverystream/${p}`)] },
    // The warm store's Glue catalog entries (the catalog itself is named in every Glue authorization) and its Athena workgroup.
    {
      sid: "WarmStoreCatalog",
      actions: ["glue:*"],
      resources: [arn("glue", "catalog"), arn("glue", `database/${names.telemetryGlueDatabase}`), arn("glue", `table/${names.telemetryGlueDatabase}/*`)],
    },
    { sid: "WarmStoreQueries", actions: ["athena:*"], resources: [arn("athena", `workgroup/${names.telemetryAthenaWorkgroup}`)] },
    // User pool ids are random, so pools are scoped to this account and region rather than by name.
    { sid: "DashboardUsers", actions: ["cognito-idp:*"], resources: [arn("cognito-idp", "userpool/*")] },
    {
      sid: "DashboardUserPools",
      actions: ["cognito-idp:CreateUserPool", "cognito-idp:ListUserPools", "cognito-idp:DescribeUserPoolDomain"],
      resources: ["*"],
      conditions: inRegion,
    },
    { sid: "Scheduler", actions: ["scheduler:*"], resources: [arn("scheduler", `schedule/*/${p}`)] },
    {
      sid: "Alarms",
      actions: [
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:DeleteAlarms",
        "cloudwatch:DescribeAlarms",
        "cloudwatch:ListTagsForResource",
        "cloudwatch:TagResource",
        "cloudwatch:UntagResource",
      ],
      resources: [arn("cloudwatch", `alarm:${p}`)],
    },
    // Dashboards are global: their ARNs carry no region.
    {
      sid: "Dashboards",
      actions: ["cloudwatch:PutDashboard", "cloudwatch:GetDashboard", "cloudwatch:DeleteDashboards"],
      resources: [`arn:aws:cloudwatch::${config.accountId}:dashboard/${p}`],
    },
    // Only the app's roles (path /): the boundary then insists that each of them carries it.
    { sid: "Roles", actions: ["iam:*"], resources: [iamArn(s, `role/${p}`), iamArn(s, `instance-profile/${p}`)] },
    {
      sid: "Network",
      actions: [
        "ec2:Describe*",
        "ec2:CreateVpc",
        "ec2:DeleteVpc",
        "ec2:ModifyVpcAttribute",
        "ec2:CreateSubnet",
        "ec2:DeleteSubnet",
        "ec2:ModifySubnetAttribute",
        "ec2:CreateInternetGateway",
        "ec2:DeleteInternetGateway",
        "ec2:AttachInternetGateway",
        "ec2:DetachInternetGateway",
        "ec2:CreateRouteTable",
        "ec2:DeleteRouteTable",
        "ec2:CreateRoute",
        "ec2:DeleteRoute",
        "ec2:ReplaceRoute",
        "ec2:AssociateRouteTable",
        "ec2:DisassociateRouteTable",
        "ec2:CreateSecurityGroup",
        "ec2:DeleteSecurityGroup",
        "ec2:AuthorizeSecurityGroupEgress",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupIngress",
        "ec2:ModifySecurityGroupRules",
        "ec2:UpdateSecurityGroupRuleDescriptionsEgress",
        "ec2:AllocateAddress",
        "ec2:ReleaseAddress",
        "ec2:AssociateAddress",
        "ec2:DisassociateAddress",
        "ec2:CreateFlowLogs",
        "ec2:DeleteFlowLogs",
        "ec2:CreateTags",
        "ec2:DeleteTags",
        "ec2:CreateLaunchTemplate",
        "ec2:CreateLaunchTemplateVersion",
        "ec2:DeleteLaunchTemplate",
        "ec2:ModifyLaunchTemplate",
        "ec2:RunInstances",
        "ec2:TerminateInstances",
        "ec2:StopInstances",
        "ec2:StartInstances",
        "ec2:ModifyInstanceAttribute",
        "ec2:ModifyInstanceMetadataOptions",
      ],
      resources: ["*"],
      conditions: inRegion,
    },
    // KMS keys cannot be named in ARNs: creation requires, and every other action checks, the project tag (a default tag).
    {
      sid: "CreateKeys",
      actions: ["kms:CreateKey"],
      resources: ["*"],
      conditions: [{ test: "StringEquals", variable: "aws:RequestTag/project", values: [projectTag] }],
    },
    {
      sid: "ManageKeys",
      actions: [
        "kms:DescribeKey",
        "kms:GetKeyPolicy",
        "kms:PutKeyPolicy",
        "kms:GetKeyRotationStatus",
        "kms:EnableKeyRotation",
        "kms:ListResourceTags",
        "kms:TagResource",
        "kms:UntagResource",
        "kms:ScheduleKeyDeletion",
        "kms:CreateAlias",
        "kms:DeleteAlias",
        "kms:UpdateAlias",
      ],
      resources: [arn("kms", "key/*")],
      conditions: [{ test: "StringEquals", variable: "aws:ResourceTag/project", values: [projectTag] }],
    },
    { sid: "KeyAliases", actions: ["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"], resources: [arn("kms", `alias/${p}`)] },
    { sid: "ListKeys", actions: ["kms:ListAliases"], resources: ["*"] },
    {
      sid: "ResolveAmi",
      actions: ["ssm:GetParameters", "ssm:GetParameter"],
      resources: [`arn:aws:ssm:${region}::parameter/aws/service/ami-amazon-linux-latest/*`],
    },
  ];
}

/** Push the controller image and run the deploy script on the tagged controller through SSM. */
export function controllerDeployStatements(s: CiScope): PolicyStatement[] {
  const { names, config } = s;
  const arn = arnOf(s);
  return [
    { sid: "EcrLogin", actions: ["ecr:GetAuthorizationToken"], resources: ["*"] },
    {
      sid: "PushControllerImage",
      actions: [
        "ecr:BatchCheckLayerAvailability",
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload",
        "ecr:PutImage",
        "ecr:BatchGetImage",
        "ecr:DescribeImages",
        "ecr:GetDownloadUrlForLayer",
      ],
      resources: [arn("ecr", `repository/${names.controllerRepository}`)],
    },
    {
      sid: "RunDeployScriptOnController",
      actions: ["ssm:SendCommand"],
      resources: [arn("ec2", "instance/*")],
      conditions: [{ test: "StringEquals", variable: "ssm:resourceTag/Role", values: [names.controllerTagValue] }],
    },
    { sid: "RunShellDocument", actions: ["ssm:SendCommand"], resources: [`arn:aws:ssm:${config.region}::document/AWS-RunShellScript`] },
    { sid: "FollowCommands", actions: ["ssm:GetCommandInvocation", "ssm:ListCommandInvocations", "ec2:DescribeInstances"], resources: ["*"] },
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
