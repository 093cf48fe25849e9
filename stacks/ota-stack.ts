import { Construct } from "constructs";
import { TerraformOutput } from "cdktf";
import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { notifyingAlarm } from "../modules/alarms";
import { IotThingGroup } from "@cdktf/provider-aws/lib/iot-thing-group";
import { FleetStack, FleetStackProps } from "./shared/fleet-stack";
import { RoleRef, TopicRef } from "../modules/refs";
import { SecureBucket } from "../modules/secure-bucket";

export interface OtaStackProps extends FleetStackProps {
  /** Role IoT Jobs uses to presign firmware URLs (roles stack). */
  readonly jobsPresignRole: RoleRef;
  /** Where CloudWatch alarms notify, from the `iot` stack. */
  readonly alarmTopic: TopicRef;
}

/**
 * IoT Jobs publishes its execution metrics per job (dimension JobId); a Metrics Insights query sums them over
 * every job, so one alarm covers rollouts that do not exist yet. One metric per query, hence one alarm each.
 */
const JOB_FAILURE_METRICS = [
  { id: "failed-executions-alarm", metric: "FailedJobExecutionCount", what: "FAILED", name: "otaFailedExecutionsAlarm" },
  { id: "timed-out-executions-alarm", metric: "TimedOutJobExecutionCount", what: "TIMED_OUT", name: "otaTimedOutExecutionsAlarm" },
] as const;

/**
 * Over-the-air firmware updates: the firmware bucket, a canary thing group and alarms on failed or timed-out
 * job executions. The jobs themselves
 * are created per release by `npm run ota -- deploy ...` (scripts/ota.ts), not by Terraform, so a
 * release never needs an infrastructure change.
 */
export class OtaStack extends FleetStack {
  readonly firmwareBucket: SecureBucket;

  constructor(scope: Construct, id: string, props: OtaStackProps) {
    super(scope, id, props);

    // Private, versioned (a re-uploaded version keeps the old bytes), TLS-only; devices get
    // short-lived presigned URLs through IoT Jobs, never bucket access.
    this.firmwareBucket = new SecureBucket(this, "firmware-bucket", {
      bucketName: this.names.firmwareBucket,
      noncurrentVersionExpiryDays: 365,
    });

    const canary = new IotThingGroup(this, "canary-group", {
      name: this.names.otaCanaryGroup,
      properties: { description: "Devices that receive firmware first; add a few with `aws iot add-thing-to-thing-group`" },
    });

    for (const alarm of JOB_FAILURE_METRICS) {
      new CloudwatchMetricAlarm(this, alarm.id, {
        alarmName: this.names[alarm.name],
        alarmDescription: `OTA job executions ended ${alarm.what} (all jobs); see npm run ota -- status <job>`,
        metricQuery: [{ id: "q1", expression: `SELECT SUM(${alarm.metric}) FROM SCHEMA("AWS/IoT", JobId)`, period: 300, returnData: true }],
        ...notifyingAlarm(props.alarmTopic),
      });
    }

    new TerraformOutput(this, "firmware-bucket-name", { value: this.firmwareBucket.bucketName, description: "Bucket the OTA publisher uploads firmware to" });
    new TerraformOutput(this, "jobs-presign-role-arn", { value: props.jobsPresignRole.roleArn, description: "Role IoT Jobs assumes to presign firmware URLs" });
    new TerraformOutput(this, "canary-thing-group", {
      value: canary.name,
      description: "Canary group: npm run ota -- deploy --canary <name> --target <fleet group>",
    });
  }
}
