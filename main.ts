import { App } from "cdktf";
import { EnvironmentConfig, loadConfig } from "./config";
import { StateStack } from "./stacks/state-stack";
import { CiStack } from "./stacks/ci-stack";
import { VpcStack } from "./stacks/vpc-stack";
import { RolesStack } from "./stacks/roles-stack";
import { EcrStack } from "./stacks/ecr-stack";
import { Ec2Stack } from "./stacks/ec2-stack";
import { IotStack } from "./stacks/iot-stack";
import { FleetProvisioningStack } from "./stacks/fleet-provisioning-stack";
import { ApiStack } from "./stacks/api-stack";
import { OtaStack } from "./stacks/ota-stack";
import { TelemetryStack } from "./stacks/telemetry-stack";
import { PolicyGate, formatSummary } from "./modules/policy-gate/policy-gate";
import { OpsStack } from "./stacks/ops-stack";

export interface FleetAppOptions {
  readonly config: EnvironmentConfig;
  /** See FleetStackProps.offline. */
  readonly offline?: boolean;
  /** See FleetStackProps.identityRoot. */
  readonly identityRoot?: string;
}

/**
 * Every deployable step, in deployment order. `cdktf deploy <id>` deploys one of them; the
 * workflows read this order from the synthesized app, never from a second list.
 */
export function defineStacks(app: App, options: FleetAppOptions) {
  const props = { config: options.config, offline: options.offline ?? false, identityRoot: options.identityRoot };

  const state = new StateStack(app, "state", props);
  // Applied by an administrator by hand, like state; CI skips both (README "Bootstrap").
  const ci = new CiStack(app, "ci", props);
  const vpc = new VpcStack(app, "vpc", props);
  const roles = new RolesStack(app, "roles", props);
  const ecr = new EcrStack(app, "ecr", props);
  const ec2 = new Ec2Stack(app, "ec2", {
    ...props,
    network: vpc.network,
    instanceProfile: roles.instanceProfile,
    repository: ecr.repository,
  });
  const iot = new IotStack(app, "iot", { ...props, iotServiceRoles: roles.iotServiceRoles });
  const fleet = new FleetProvisioningStack(app, "fleet", {
    ...props,
    iotServiceRoles: roles.iotServiceRoles,
    registryTable: iot.registryTable,
    alarmTopic: iot.alarmTopic,
    devicePolicyName: iot.devicePolicyName,
    iotDataEndpoint: iot.iotDataEndpoint,
  });
  const api = new ApiStack(app, "api", { ...props, registryTable: iot.registryTable, alarmTopic: iot.alarmTopic });
  const ota = new OtaStack(app, "ota", { ...props, jobsPresignRole: roles.iotServiceRoles.jobsPresign, alarmTopic: iot.alarmTopic });
  const telemetry = new TelemetryStack(app, "telemetry", {
    ...props,
    registryTable: iot.registryTable,
    alarmTopic: iot.alarmTopic,
    alertHandler: iot.alertHandler,
  });

  // Last: the dashboard and the pages look at every stack before it.
  const ops = new OpsStack(app, "ops", {
    ...props,
    alarmTopic: iot.alarmTopic,
    controllerInstanceId: ec2.instanceId,
    watched: [ec2, iot, fleet, api, ota, telemetry],
  });

  return { state, ci, vpc, roles, ecr, ec2, iot, fleet, api, ota, telemetry, ops };
}

export function isOffline(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.IOT_OFFLINE === "1" || env.IOT_OFFLINE === "true";
}

/** What `cdktf synth` runs (cdktf.json, through scripts/synth-app.js): every stack, then the policy gate's summary. */
export function synthesizeApp(): void {
  const app = new App();
  defineStacks(app, { config: loadConfig(), offline: isOffline() });
  app.synth();
  console.log(formatSummary(PolicyGate.report(app)));
}

if (require.main === module) synthesizeApp();
