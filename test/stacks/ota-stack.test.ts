import { IotThingGroup } from "@cdktf/provider-aws/lib/iot-thing-group";
import { OtaStack } from "../../stacks/ota-stack";
import { resourcesOf, synthStack } from "../support/synth";

const jobsPresignRole = { roleName: "shf-dev-iot-jobs-presign", roleArn: "arn:aws:iam::111111111111:role/shf-dev-iot-jobs-presign" };
const alarmTopic = { topicName: "shf-dev-alarms", topicArn: "arn:aws:sns:eu-west-1:111111111111:shf-dev-alarms" };
const synth = () => synthStack((app, props) => new OtaStack(app, "ota", { ...props, jobsPresignRole, alarmTopic }));

describe("OtaStack", () => {
  test("keeps firmware in a private bucket whose name the presign role and publisher expect", () => {
    const stack = synth();
    expect(Object.values(resourcesOf(stack, "aws_s3_bucket"))[0]).toMatchObject({ bucket: "shf-dev-firmware-111111111111" });
    expect(Object.values(resourcesOf(stack, "aws_s3_bucket_public_access_block"))[0]).toMatchObject({ restrict_public_buckets: true });
  });

  test("creates a canary thing group for staged rollouts", () => {
    expect(synth().json).toHaveResourceWithProperties(IotThingGroup, { name: "shf-dev-ota-canary" });
  });

  test.each([
    ["shf-dev-ota-failed-executions", "FailedJobExecutionCount"],
    ["shf-dev-ota-timed-out-executions", "TimedOutJobExecutionCount"],
  ])("GIVEN any job WHEN an execution ends badly THEN alarm %s sums %s over every job id and notifies the alarm topic", (alarmName, metric) => {
    const alarm = Object.values(resourcesOf(synth(), "aws_cloudwatch_metric_alarm")).find((a) => (a as { alarm_name: string }).alarm_name === alarmName);
    expect(alarm).toMatchObject({
      metric_query: [{ id: "q1", expression: `SELECT SUM(${metric}) FROM SCHEMA("AWS/IoT", JobId)`, period: 300, return_data: true }],
      threshold: 1,
      comparison_operator: "GreaterThanOrEqualToThreshold",
      treat_missing_data: "notBreaching",
      alarm_actions: [alarmTopic.topicArn],
    });
  });

  test("outputs the presign role the publisher uses", () => {
    expect(synth().tf.output!["jobs-presign-role-arn"]).toMatchObject({ value: jobsPresignRole.roleArn });
  });
});
