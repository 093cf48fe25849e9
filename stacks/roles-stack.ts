import { Construct } from "constructs";
import { TerraformOutput } from "cdktf";
import { IamInstanceProfile } from "@cdktf/provider-aws/lib/iam-instance-profile";
import { IamOpenidConnectProvider } from "@cdktf/provider-aws/lib/iam-openid-connect-provider";
import { FleetStack, FleetStackProps, PROJECT_TAG } from "./fleet-stack";
import { InstanceProfileRef, IotServiceRoles, RoleRef } from "../modules/refs";
import { PolicyStatement, policyDocument, serviceTrust } from "../modules/policy-document";
import { ServiceRole } from "../modules/service-role";

const GITHUB_OIDC_HOST = "token.actions.githubusercontent.com";

export interface GithubRoles {
  /** Read-only: `terraform plan` on pull requests. */
  readonly plan: RoleRef;
  /** `terraform apply` on pushes to the apply branch, inside the GitHub environment. */
  readonly apply: RoleRef;
  /** Container CD: push to ECR and redeploy the controller through SSM Run Command. */
  readonly containerDeploy: RoleRef;
}

/**
 * Cross-cutting IAM, deployed before the resources it grants on (so grants name resources by their
 * config-derived names from modules/naming.ts): the controller's instance role, the roles AWS IoT
 * assumes, and the GitHub OIDC roles used by the workflows. No long-lived keys anywhere.
 */
export class RolesStack extends FleetStack {
  readonly instanceProfile: InstanceProfileRef;
  readonly iotServiceRoles: IotServiceRoles;
  readonly githubRoles: GithubRoles;

  constructor(scope: Construct, id: string, props: FleetStackProps) {
    super(scope, id, props);
    const p = this.config.namePrefix;
    const names = this.names;
    const iotTrust = () => [{ test: "StringEquals", variable: "aws:SourceAccount", values: [this.config.accountId] }];

    // --- The controller on EC2: SSM (no SSH), pull its image, read its own certificate and key, write its logs.
    const controller = new ServiceRole(this, "controller-instance-role", {
      roleName: `${p}-controller-instance`,
      description: "Smart-home controller EC2 instance",
      trust: serviceTrust(this, "ec2-trust", "ec2.amazonaws.com"),
      managedPolicies: ["AmazonSSMManagedInstanceCore"],
      statements: [
        { sid: "EcrLogin", actions: ["ecr:GetAuthorizationToken"], resources: ["*"] },
        {
          sid: "PullControllerImage",
          actions: ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
          resources: [this.arn("ecr", `repository/${names.controllerRepository}`)],
        },
        {
          sid: "ReadControllerKey",
          actions: ["secretsmanager:GetSecretValue"],
          // Secrets Manager appends 6 random characters to the name in the ARN. Only the current and the
          // pending key: AWSPREVIOUS holds a key whose certificate is revoked. A version can carry several
          // labels, so the key is multi-valued (ForAnyValue, as in AWS's staging-label example).
          resources: [this.arn("secretsmanager", `secret:${names.controllerSecret}-??????`)],
          conditions: [{ test: "ForAnyValue:StringEquals", variable: "secretsmanager:VersionStage", values: ["AWSCURRENT", "AWSPENDING"] }],
        },
        {
          sid: "ReadControllerCertificate",
          actions: ["ssm:GetParameter"],
          resources: [this.arn("ssm", `parameter${names.controllerIdentityParameter}`)],
        },
        {
          sid: "WriteControllerLogs",
          actions: ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
          resources: [this.arn("logs", `log-group:${names.controllerLogGroup}:*`)],
        },
      ],
    });
    const profile = new IamInstanceProfile(this, "controller-instance-profile", { name: `${p}-controller`, role: controller.roleName });

    // --- Roles AWS IoT assumes.
    const ruleAction = new ServiceRole(this, "iot-rule-action-role", {
      roleName: `${p}-iot-rule-actions`,
      description: "IoT topic rules: response and rule-error logs",
      trust: serviceTrust(this, "iot-rule-trust", "iot.amazonaws.com", iotTrust()),
      statements: [
        {
          sid: "WriteRuleLogs",
          actions: ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
          resources: [this.arn("logs", `log-group:${names.responsesLogGroup}:*`), this.arn("logs", `log-group:${names.ruleErrorsLogGroup}:*`)],
        },
      ],
    });

    const provisioning = new ServiceRole(this, "iot-provisioning-role", {
      roleName: `${p}-iot-fleet-provisioning`,
      description: "IoT fleet provisioning: register things, certificates and the device policy",
      trust: serviceTrust(this, "iot-provisioning-trust", "iot.amazonaws.com", iotTrust()),
      statements: provisioningStatements(this.arn.bind(this), names.devicePolicy),
    });

    const jobsPresign = new ServiceRole(this, "iot-jobs-presign-role", {
      roleName: `${p}-iot-jobs-presign`,
      description: "IoT Jobs: presigned firmware download URLs",
      trust: serviceTrust(this, "iot-jobs-trust", "iot.amazonaws.com", iotTrust()),
      statements: [{ sid: "ReadFirmware", actions: ["s3:GetObject"], resources: [`arn:aws:s3:::${names.firmwareBucket}/*`] }],
    });

    const logging = new ServiceRole(this, "iot-logging-role", {
      roleName: `${p}-iot-logging`,
      description: "IoT Core logging to CloudWatch (AWSIotLogsV2)",
      trust: serviceTrust(this, "iot-logging-trust", "iot.amazonaws.com", iotTrust()),
      statements: [
        {
          sid: "WriteIotLogs",
          actions: ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:PutMetricFilter", "logs:PutRetentionPolicy"],
          resources: [this.arn("logs", "log-group:AWSIotLogsV2"), this.arn("logs", "log-group:AWSIotLogsV2:*")],
        },
      ],
    });

    // --- GitHub Actions through OIDC: one provider, three roles, each trusting only this repository.
    const oidc = new IamOpenidConnectProvider(this, "github-oidc", {
      url: `https://${GITHUB_OIDC_HOST}`,
      clientIdList: ["sts.amazonaws.com"],
      // IAM no longer checks these for GitHub (it trusts its own CA store), but the API still requires one.
      thumbprintList: ["6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd"],
    });
    const repo = `repo:${this.config.github.owner}/${this.config.github.repository}`;
    const githubTrust = (trustId: string, subjects: string[]) =>
      policyDocument(this, trustId, [
        {
          actions: ["sts:AssumeRoleWithWebIdentity"],
          principals: [{ type: "Federated", identifiers: [oidc.arn] }],
          conditions: [
            { test: "StringEquals", variable: `${GITHUB_OIDC_HOST}:aud`, values: ["sts.amazonaws.com"] },
            { test: "StringEquals", variable: `${GITHUB_OIDC_HOST}:sub`, values: subjects },
          ],
        },
      ]);
    const environmentSubject = `${repo}:environment:${this.config.github.environment}`;
    const stateAccess = stateBackendStatements(this.arn.bind(this), names.stateBucket, names.stateLockTable);

    const planRole = new ServiceRole(this, "github-plan-role", {
      roleName: `${p}-github-plan`,
      description: "GitHub Actions: terraform plan on pull requests (read-only)",
      trust: githubTrust("github-plan-trust", [`${repo}:pull_request`]),
      managedPolicies: ["ReadOnlyAccess"],
      statements: [
        ...stateAccess,
        // Refreshing aws_secretsmanager_secret_version reads the value.
        { sid: "RefreshFleetSecrets", actions: ["secretsmanager:GetSecretValue"], resources: [this.arn("secretsmanager", `secret:${p}/*`)] },
      ],
    });

    const applyRole = new ServiceRole(this, "github-apply-role", {
      roleName: `${p}-github-apply`,
      description: "GitHub Actions: terraform apply on merge, inside the GitHub environment",
      trust: githubTrust("github-apply-trust", [environmentSubject]),
      maxSessionSeconds: 7200,
      statements: [...stateAccess, ...applyStatements(this.arn.bind(this), p, this.config.region, this.config.accountId)],
    });

    const deployRole = new ServiceRole(this, "github-container-deploy-role", {
      roleName: `${p}-github-container-deploy`,
      description: "GitHub Actions: push the controller image and redeploy it through SSM",
      trust: githubTrust("github-deploy-trust", [environmentSubject]),
      statements: [
        { sid: "EcrLogin", actions: ["ecr:GetAuthorizationToken"], resources: ["*"] },
        {
          sid: "PushControllerImage",
          actions: [
            "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload",
            "ecr:PutImage", "ecr:BatchGetImage", "ecr:DescribeImages", "ecr:GetDownloadUrlForLayer",
          ],
          resources: [this.arn("ecr", `repository/${names.controllerRepository}`)],
        },
        {
          sid: "RunDeployScriptOnController",
          actions: ["ssm:SendCommand"],
          resources: [this.arn("ec2", "instance/*")],
          conditions: [{ test: "StringEquals", variable: "ssm:resourceTag/Role", values: [names.controllerTagValue] }],
        },
        { sid: "RunShellDocument", actions: ["ssm:SendCommand"], resources: [`arn:aws:ssm:${this.config.region}::document/AWS-RunShellScript`] },
        { sid: "FollowCommands", actions: ["ssm:GetCommandInvocation", "ssm:ListCommandInvocations", "ec2:DescribeInstances"], resources: ["*"] },
      ],
    });

    this.instanceProfile = this.share<InstanceProfileRef>(
      { instanceProfileName: profile.name, roleName: controller.roleName, roleArn: controller.roleArn },
      { instanceProfileName: `${p}-controller`, roleName: `${p}-controller-instance`, roleArn: this.globalArn(`role/${p}-controller-instance`) },
    );
    const ref = (role: ServiceRole, name: string): RoleRef =>
      this.share<RoleRef>({ roleName: role.roleName, roleArn: role.roleArn }, { roleName: name, roleArn: this.globalArn(`role/${name}`) });
    this.iotServiceRoles = {
      ruleAction: ref(ruleAction, `${p}-iot-rule-actions`),
      provisioning: ref(provisioning, `${p}-iot-fleet-provisioning`),
      jobsPresign: ref(jobsPresign, `${p}-iot-jobs-presign`),
      logging: ref(logging, `${p}-iot-logging`),
    };
    this.githubRoles = {
      plan: ref(planRole, `${p}-github-plan`),
      apply: ref(applyRole, `${p}-github-apply`),
      containerDeploy: ref(deployRole, `${p}-github-container-deploy`),
    };

    new TerraformOutput(this, "github-plan-role-arn", { value: planRole.roleArn, description: "Repository variable AWS_PLAN_ROLE_ARN" });
    new TerraformOutput(this, "github-apply-role-arn", { value: applyRole.roleArn, description: "Repository variable AWS_APPLY_ROLE_ARN" });
    new TerraformOutput(this, "github-container-deploy-role-arn", { value: deployRole.roleArn, description: "Repository variable AWS_DEPLOY_ROLE_ARN" });
  }

  private globalArn(resource: string): string {
    return `arn:aws:iam::${this.config.accountId}:${resource}`;
  }
}

type ArnFn = (service: string, resource: string) => string;

/** Read/write the Terraform state object and its lock. */
function stateBackendStatements(arn: ArnFn, bucket: string, lockTable: string): PolicyStatement[] {
  return [
    { sid: "StateList", actions: ["s3:ListBucket"], resources: [`arn:aws:s3:::${bucket}`] },
    { sid: "StateObjects", actions: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], resources: [`arn:aws:s3:::${bucket}/*`] },
    { sid: "StateLock", actions: ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:DescribeTable"], resources: [arn("dynamodb", `table/${lockTable}`)] },
  ];
}

/** What fleet provisioning does on a device's behalf, on things, groups, types, certificates and the one device policy. */
function provisioningStatements(arn: ArnFn, devicePolicy: string): PolicyStatement[] {
  return [
    {
      sid: "RegisterDevices",
      actions: [
        "iot:CreateThing", "iot:DescribeThing", "iot:UpdateThing", "iot:DescribeThingType", "iot:DescribeThingGroup",
        "iot:AddThingToThingGroup", "iot:ListThingGroupsForThing", "iot:UpdateThingGroupsForThing",
        "iot:AttachThingPrincipal", "iot:ListThingPrincipals", "iot:ListPrincipalThings",
        "iot:DescribeCertificate", "iot:UpdateCertificate", "iot:RegisterCertificate", "iot:RegisterThing",
        "iot:AttachPolicy", "iot:AttachPrincipalPolicy", "iot:GetPolicy", "iot:ListAttachedPolicies",
      ],
      resources: [arn("iot", "thing/*"), arn("iot", "thinggroup/*"), arn("iot", "thingtype/*"), arn("iot", "cert/*"), arn("iot", `policy/${devicePolicy}`)],
    },
  ];
}

/**
 * What `terraform apply` of this app manages, each service limited to this environment's name prefix
 * where the service supports resource-level permissions, and to the region otherwise.
 */
function applyStatements(arn: ArnFn, p: string, region: string, account: string): PolicyStatement[] {
  const inRegion = [{ test: "StringEquals", variable: "aws:RequestedRegion", values: [region] }];
  return [
    { sid: "Buckets", actions: ["s3:*"], resources: [`arn:aws:s3:::${p}-*`, `arn:aws:s3:::${p}-*/*`] },
    { sid: "Tables", actions: ["dynamodb:*"], resources: [arn("dynamodb", `table/${p}-*`)] },
    { sid: "Functions", actions: ["lambda:*"], resources: [arn("lambda", `function:${p}-*`)] },
    { sid: "LambdaReads", actions: ["lambda:GetAccountSettings", "lambda:ListFunctions"], resources: ["*"] },
    { sid: "Logs", actions: ["logs:*"], resources: [arn("logs", `log-group:/${p}/*`), arn("logs", `log-group:/aws/lambda/${p}-*`), arn("logs", "log-group:AWSIotLogsV2*")] },
    { sid: "LogReads", actions: ["logs:DescribeLogGroups", "logs:ListTagsForResource", "logs:ListTagsLogGroup"], resources: ["*"] },
    { sid: "Alerts", actions: ["sns:*"], resources: [arn("sns", `${p}-*`)] },
    { sid: "Secrets", actions: ["secretsmanager:*"], resources: [arn("secretsmanager", `secret:${p}/*`)] },
    { sid: "Images", actions: ["ecr:*"], resources: [arn("ecr", `repository/${p}-*`)] },
    { sid: "EcrLogin", actions: ["ecr:GetAuthorizationToken"], resources: ["*"] },
    { sid: "Iot", actions: ["iot:*"], resources: [`arn:aws:iot:${region}:${account}:*`] },
    { sid: "IotAccountSettings", actions: ["iot:GetIndexingConfiguration", "iot:UpdateIndexingConfiguration", "iot:GetV2LoggingOptions", "iot:SetV2LoggingOptions", "iot:DescribeEndpoint", "iot:ListTagsForResource"], resources: ["*"] },
    { sid: "Api", actions: ["apigateway:GET", "apigateway:POST", "apigateway:PUT", "apigateway:PATCH", "apigateway:DELETE", "apigateway:TagResource", "apigateway:UntagResource"], resources: [`arn:aws:apigateway:${region}::/*`] },
    { sid: "Schedules", actions: ["events:*"], resources: [arn("events", `rule/${p}-*`)] },
    { sid: "TelemetryDelivery", actions: ["firehose:*"], resources: [arn("firehose", `deliverystream/${p}-*`)] },
    // User pool ids are random, so pools are scoped to this account and region rather than by name.
    { sid: "DashboardUsers", actions: ["cognito-idp:*"], resources: [arn("cognito-idp", "userpool/*")] },
    { sid: "DashboardUserPools", actions: ["cognito-idp:CreateUserPool", "cognito-idp:ListUserPools", "cognito-idp:DescribeUserPoolDomain"], resources: ["*"], conditions: inRegion },
    { sid: "Scheduler", actions: ["scheduler:*"], resources: [arn("scheduler", `schedule/*/${p}-*`)] },
    { sid: "Alarms", actions: ["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource", "cloudwatch:TagResource", "cloudwatch:UntagResource"], resources: [arn("cloudwatch", `alarm:${p}-*`)] },
    {
      sid: "Roles",
      actions: ["iam:*"],
      resources: [`arn:aws:iam::${account}:role/${p}-*`, `arn:aws:iam::${account}:instance-profile/${p}-*`, `arn:aws:iam::${account}:oidc-provider/${GITHUB_OIDC_HOST}`],
    },
    {
      sid: "Network",
      actions: [
        "ec2:Describe*", "ec2:CreateVpc", "ec2:DeleteVpc", "ec2:ModifyVpcAttribute", "ec2:CreateSubnet", "ec2:DeleteSubnet", "ec2:ModifySubnetAttribute",
        "ec2:CreateInternetGateway", "ec2:DeleteInternetGateway", "ec2:AttachInternetGateway", "ec2:DetachInternetGateway",
        "ec2:CreateRouteTable", "ec2:DeleteRouteTable", "ec2:CreateRoute", "ec2:DeleteRoute", "ec2:ReplaceRoute", "ec2:AssociateRouteTable", "ec2:DisassociateRouteTable",
        "ec2:CreateSecurityGroup", "ec2:DeleteSecurityGroup", "ec2:AuthorizeSecurityGroupEgress", "ec2:RevokeSecurityGroupEgress",
        "ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:ModifySecurityGroupRules", "ec2:UpdateSecurityGroupRuleDescriptionsEgress",
        "ec2:AllocateAddress", "ec2:ReleaseAddress", "ec2:AssociateAddress", "ec2:DisassociateAddress",
        "ec2:CreateFlowLogs", "ec2:DeleteFlowLogs", "ec2:CreateTags", "ec2:DeleteTags",
        "ec2:CreateLaunchTemplate", "ec2:CreateLaunchTemplateVersion", "ec2:DeleteLaunchTemplate", "ec2:ModifyLaunchTemplate",
        "ec2:RunInstances", "ec2:TerminateInstances", "ec2:StopInstances", "ec2:StartInstances", "ec2:ModifyInstanceAttribute", "ec2:ModifyInstanceMetadataOptions",
      ],
      resources: ["*"],
      conditions: inRegion,
    },
    // KMS keys cannot be named in ARNs: creation requires, and every other action checks, the project tag (a default tag).
    { sid: "CreateKeys", actions: ["kms:CreateKey"], resources: ["*"], conditions: [{ test: "StringEquals", variable: "aws:RequestTag/project", values: [PROJECT_TAG] }] },
    {
      sid: "ManageKeys",
      actions: [
        "kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:GetKeyRotationStatus", "kms:EnableKeyRotation",
        "kms:ListResourceTags", "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias",
      ],
      resources: [arn("kms", "key/*")],
      conditions: [{ test: "StringEquals", variable: "aws:ResourceTag/project", values: [PROJECT_TAG] }],
    },
    { sid: "KeyAliases", actions: ["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"], resources: [arn("kms", `alias/${p}-*`)] },
    { sid: "ListKeys", actions: ["kms:ListAliases"], resources: ["*"] },
    { sid: "ResolveAmi", actions: ["ssm:GetParameters", "ssm:GetParameter"], resources: [`arn:aws:ssm:${region}::parameter/aws/service/ami-amazon-linux-latest/*`] },
  ];
}
