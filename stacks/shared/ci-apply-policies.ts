/**
 * What the two CI identities that write may do: `terraform apply` of the app (inside the permissions
 * boundary, limited to this environment's names) and the controller deploy (image push, SSM command).
 * The read-only identities, the boundary and the OIDC subjects are in ci-policies.ts.
 */
import { PolicyStatement } from "../../modules/policy-document";
import { arnOf, iamArn, type CiScope } from "./ci-policies";

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
