import { Construct } from "constructs";
import { Fn, TerraformOutput } from "cdktf";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { LaunchTemplate } from "@cdktf/provider-aws/lib/launch-template";
import { Instance } from "@cdktf/provider-aws/lib/instance";
import { EipAssociation } from "@cdktf/provider-aws/lib/eip-association";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { FleetStack, FleetStackProps } from "./shared/fleet-stack";
import { InstanceProfileRef, RepositoryRef } from "../modules/refs";
import { NetworkRef } from "./shared/refs";
import { CONTROLLER_METRICS } from "../functions/shared/fleet-metrics";

/** Latest Amazon Linux 2023 for arm64, resolved by EC2 at launch: no data-source call at plan time. */
export const AL2023_ARM64_AMI = "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64";

export interface Ec2StackProps extends FleetStackProps {
  readonly network: NetworkRef;
  readonly instanceProfile: InstanceProfileRef;
  readonly repository: RepositoryRef;
}

/**
 * The controller: one t4g.nano from a launch template, running the controller container from ECR.
 * No SSH and no key pair: operators and CD reach it through SSM. At boot its certificate (published in
 * SSM by the iot stack) and the matching key version (Secrets Manager) are read into tmpfs. The CD workflow redeploys it with `deploy-controller <tag>`.
 */
export class Ec2Stack extends FleetStack {
  readonly instanceId: string;

  constructor(scope: Construct, id: string, props: Ec2StackProps) {
    super(scope, id, props);
    const { controller } = this.config;

    const logGroup = new CloudwatchLogGroup(this, "controller-logs", {
      name: this.names.controllerLogGroup,
      retentionInDays: this.config.logRetentionDays,
    });

    const userData = controllerUserData({
      region: this.config.region,
      repositoryUrl: props.repository.repositoryUrl,
      secretId: this.names.controllerSecret,
      identityParameter: this.names.controllerIdentityParameter,
      logGroup: this.names.controllerLogGroup,
      initialImageTag: controller.initialImageTag,
      environment: this.config.name,
    });

    const template = new LaunchTemplate(this, "controller-template", {
      name: this.names.controllerLaunchTemplate,
      description: "Smart-home controller (arm64, Docker)",
      imageId: AL2023_ARM64_AMI,
      instanceType: controller.instanceType,
      iamInstanceProfile: { name: props.instanceProfile.instanceProfileName },
      metadataOptions: {
        httpEndpoint: "enabled",
        httpTokens: "required", // IMDSv2 only
        httpPutResponseHopLimit: 1, // containers cannot reach the instance's credentials
        instanceMetadataTags: "disabled",
      },
      blockDeviceMappings: [
        {
          deviceName: "/dev/xvda",
          ebs: { volumeType: "gp3", volumeSize: controller.rootVolumeGiB, encrypted: "true", deleteOnTermination: "true" },
        },
      ],
      networkInterfaces: [
        {
          deviceIndex: 0,
          subnetId: props.network.publicSubnetIds[0],
          securityGroups: [props.network.controllerSecurityGroupId],
          // A public address from the first second, so user data can install Docker before the EIP is attached.
          associatePublicIpAddress: "true",
          deleteOnTermination: "true",
        },
      ],
      monitoring: { enabled: false },
      userData: Fn.base64encode(userData),
      tagSpecifications: [
        { resourceType: "instance", tags: { Name: this.names.controllerInstance, Role: this.names.controllerTagValue } },
        { resourceType: "volume", tags: { Name: this.names.controllerRootVolume } },
      ],
      updateDefaultVersion: true,
    });

    const instance = new Instance(this, "controller", {
      launchTemplate: { id: template.id, version: Fn.tostring(template.latestVersion) },
      tags: { Name: this.names.controllerInstance, Role: this.names.controllerTagValue },
      dependsOn: [logGroup],
    });
    this.instanceId = instance.id;

    new EipAssociation(this, "controller-eip", { allocationId: props.network.controllerEipAllocationId, instanceId: instance.id });

    // Hardware or hypervisor failure: EC2 moves the instance to healthy hardware, keeping its ID, EIP and volume.
    new CloudwatchMetricAlarm(this, "controller-auto-recovery", {
      alarmName: this.names.controllerAutoRecoveryAlarm,
      alarmDescription: "Recover the controller instance when the system status check fails",
      namespace: "AWS/EC2",
      metricName: "StatusCheckFailed_System",
      dimensions: { InstanceId: instance.id },
      statistic: "Maximum",
      period: 60,
      evaluationPeriods: 2,
      threshold: 1,
      comparisonOperator: "GreaterThanOrEqualToThreshold",
      alarmActions: [`arn:aws:automate:${this.config.region}:ec2:recover`],
    });

    new TerraformOutput(this, "controller-instance-id", { value: instance.id, description: "Controller instance; target of SSM Run Command for CD" });
    new TerraformOutput(this, "controller-deploy-command", {
      value: "/usr/local/bin/deploy-controller",
      description: "Script CD runs on the instance: deploy-controller <image-tag> | --rollback",
    });
  }
}

export interface ControllerUserDataInput {
  readonly region: string;
  readonly repositoryUrl: string;
  /** Secrets Manager secret with the controller's key versions. */
  readonly secretId: string;
  /** SSM parameter where the iot stack publishes the controller's certificate, endpoint and thing name. */
  readonly identityParameter: string;
  readonly logGroup: string;
  readonly initialImageTag: string;
  /** Environment name: the dimension value of the container-health metric. */
  readonly environment: string;
}

/** The first-boot script with the deploy and identity scripts embedded (base64, so no quoting can break them). */
export function controllerUserData(input: ControllerUserDataInput): string {
  const assets = join(__dirname, "assets");
  const deployScript = readFileSync(join(assets, "deploy-controller.sh"), "utf8");
  const identityScript = readFileSync(join(assets, "controller-identity.sh"), "utf8");
  const healthScript = readFileSync(join(assets, "controller-health.sh"), "utf8");
  const values: Record<string, string> = {
    AWS_REGION: input.region,
    REPOSITORY_URL: input.repositoryUrl,
    SECRET_ID: input.secretId,
    IDENTITY_PARAMETER: input.identityParameter,
    LOG_GROUP: input.logGroup,
    INITIAL_IMAGE_TAG: input.initialImageTag,
    DEPLOY_SCRIPT_BASE64: Buffer.from(deployScript).toString("base64"),
    IDENTITY_SCRIPT_BASE64: Buffer.from(identityScript).toString("base64"),
    HEALTH_SCRIPT_BASE64: Buffer.from(healthScript).toString("base64"),
    HEALTH_METRIC_DIMENSION_VALUE: input.environment,
    HEALTH_METRIC_NAMESPACE: CONTROLLER_METRICS.namespace,
    HEALTH_METRIC_NAME: CONTROLLER_METRICS.containerHealthy,
    HEALTH_METRIC_DIMENSION: CONTROLLER_METRICS.environmentDimension,
  };
  return readFileSync(join(assets, "controller-user-data.sh"), "utf8").replace(/@@([A-Z0-9_]+)@@/g, (_match, key: string) => {
    const value = values[key];
    if (value === undefined) throw new Error(`controller-user-data.sh uses @@${key}@@, which has no value`);
    return value;
  });
}
