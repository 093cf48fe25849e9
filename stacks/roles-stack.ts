import { Construct } from "constructs";
import { CONTROLLER_METRICS } from "../functions/shared/fleet-metrics";
import { IamInstanceProfile } from "@cdktf/provider-aws/lib/iam-instance-profile";
import { FleetStack, FleetStackProps } from "./shared/fleet-stack";
import { InstanceProfileRef, RoleRef } from "../modules/refs";
import { IotServiceRoles } from "./shared/refs";
import { PolicyStatement, serviceTrust } from "../modules/policy-document";
import { ServiceRole } from "../modules/service-role";

/**
 * Cross-cutting IAM, deployed before the resources it grants on (so grants name resources by their
 * config-derived names from stacks/shared/naming.ts): the controller's instance role and the roles AWS IoT
 * assumes, each inside the permissions boundary (FleetStack). The CI identities live in the `ci` stack,
 * which CI never applies. No long-lived keys anywhere.
 */
export class RolesStack extends FleetStack {
  readonly instanceProfile: InstanceProfileRef;
  readonly iotServiceRoles: IotServiceRoles;

  constructor(scope: Construct, id: string, props: FleetStackProps) {
    super(scope, id, props);
    const names = this.names;
    const iotTrust = () => [{ test: "StringEquals", variable: "aws:SourceAccount", values: [this.config.accountId] }];

    // --- The controller on EC2: SSM (no SSH), pull its image, read its own certificate and key, write its logs.
    const controller = new ServiceRole(this, "controller-instance-role", {
      roleName: names.controllerInstanceRole,
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
        {
          // The host agent's container-health metric; PutMetricData has no resource, so the namespace is the scope.
          sid: "PutControllerHealthMetric",
          actions: ["cloudwatch:PutMetricData"],
          resources: ["*"],
          conditions: [{ test: "StringEquals", variable: "cloudwatch:namespace", values: [CONTROLLER_METRICS.namespace] }],
        },
      ],
    });
    const profile = new IamInstanceProfile(this, "controller-instance-profile", { name: names.controllerInstanceProfile, role: controller.roleName });

    // --- Roles AWS IoT assumes.
    const ruleAction = new ServiceRole(this, "iot-rule-action-role", {
      roleName: names.iotRuleActionsRole,
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
      roleName: names.iotProvisioningRole,
      description: "IoT fleet provisioning: register things, certificates and the device policy",
      trust: serviceTrust(this, "iot-provisioning-trust", "iot.amazonaws.com", iotTrust()),
      statements: provisioningStatements(this.arn.bind(this), names.devicePolicy),
    });

    const jobsPresign = new ServiceRole(this, "iot-jobs-presign-role", {
      roleName: names.iotJobsPresignRole,
      description: "IoT Jobs: presigned firmware download URLs",
      trust: serviceTrust(this, "iot-jobs-trust", "iot.amazonaws.com", iotTrust()),
      statements: [{ sid: "ReadFirmware", actions: ["s3:GetObject"], resources: [`arn:aws:s3:::${names.firmwareBucket}/${names.firmwareKeyPrefix}*`] }],
    });

    const logging = new ServiceRole(this, "iot-logging-role", {
      roleName: names.iotLoggingRole,
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

    this.instanceProfile = this.share<InstanceProfileRef>(
      { instanceProfileName: profile.name, roleName: controller.roleName, roleArn: controller.roleArn },
      {
        instanceProfileName: names.controllerInstanceProfile,
        roleName: names.controllerInstanceRole,
        roleArn: names.roleArn(names.controllerInstanceRole),
      },
    );
    const ref = (role: ServiceRole, name: string): RoleRef =>
      this.share<RoleRef>({ roleName: role.roleName, roleArn: role.roleArn }, { roleName: name, roleArn: names.roleArn(name) });
    this.iotServiceRoles = {
      ruleAction: ref(ruleAction, names.iotRuleActionsRole),
      provisioning: ref(provisioning, names.iotProvisioningRole),
      jobsPresign: ref(jobsPresign, names.iotJobsPresignRole),
      logging: ref(logging, names.iotLoggingRole),
    };
  }
}

type ArnFn = (service: string, resource: string) => string;

/** What fleet provisioning does on a device's behalf, on things, groups, types, certificates and the one device policy. */
function provisioningStatements(arn: ArnFn, devicePolicy: string): PolicyStatement[] {
  return [
    {
      sid: "RegisterDevices",
      actions: [
        "iot:CreateThing",
        "iot:DescribeThing",
        "iot:UpdateThing",
        "iot:DescribeThingType",
        "iot:DescribeThingGroup",
        "iot:AddThingToThingGroup",
        "iot:ListThingGroupsForThing",
        "iot:UpdateThingGroupsForThing",
        "iot:AttachThingPrincipal",
        "iot:ListThingPrincipals",
        "iot:ListPrincipalThings",
        "iot:DescribeCertificate",
        "iot:UpdateCertificate",
        "iot:RegisterCertificate",
        "iot:RegisterThing",
        "iot:AttachPolicy",
        "iot:AttachPrincipalPolicy",
        "iot:GetPolicy",
        "iot:ListAttachedPolicies",
      ],
      resources: [arn("iot", "thing/*"), arn("iot", "thinggroup/*"), arn("iot", "thingtype/*"), arn("iot", "cert/*"), arn("iot", `policy/${devicePolicy}`)],
    },
  ];
}
