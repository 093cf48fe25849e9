import { Testing, TerraformStack } from "cdktf";
import { FunctionAlarms, FunctionAlarmsProps } from "../../modules/alarms";

const TOPIC = { topicName: "shf-dev-alarms", topicArn: "arn:aws:sns:eu-west-1:111111111111:shf-dev-alarms" };

function synthAlarms(props: Partial<FunctionAlarmsProps> = {}) {
  const stack = new TerraformStack(Testing.app(), "test");
  new FunctionAlarms(stack, "hook-alarms", { function: { functionName: "shf-dev-provisioning-hook", timeoutSeconds: 5 }, topic: TOPIC, ...props });
  return Object.values(JSON.parse(Testing.synth(stack)).resource.aws_cloudwatch_metric_alarm) as Record<string, any>[];
}

const byMetric = (alarms: Record<string, any>[], metric: string) => alarms.find((a) => a.metric_name === metric)!;

describe("FunctionAlarms", () => {
  test("alarms on any error and any throttle of the function", () => {
    const alarms = synthAlarms();
    for (const metric of ["Errors", "Throttles"]) {
      expect(byMetric(alarms, metric)).toMatchObject({
        namespace: "AWS/Lambda",
        dimensions: { FunctionName: "shf-dev-provisioning-hook" },
        statistic: "Sum",
        threshold: 1,
        comparison_operator: "GreaterThanOrEqualToThreshold",
      });
    }
  });

  test("alarms on duration at 80% of the timeout by default", () => {
    expect(byMetric(synthAlarms(), "Duration")).toMatchObject({ statistic: "Maximum", threshold: 4000 });
  });

  test("notifies the topic on alarm and on recovery, and treats quiet periods as healthy", () => {
    for (const alarm of synthAlarms()) {
      expect(alarm).toMatchObject({ alarm_actions: [TOPIC.topicArn], ok_actions: [TOPIC.topicArn], treat_missing_data: "notBreaching" });
    }
  });

  test("names alarms after the function, within the apply role's prefix", () => {
    expect(synthAlarms().map((a) => a.alarm_name).sort()).toEqual(["duration", "errors", "throttles"].map((s) => `shf-dev-provisioning-hook-${s}`));
  });

  test("alarms on error-level JSON log lines when given the log group", () => {
    const stack = new TerraformStack(Testing.app(), "test");
    new FunctionAlarms(stack, "hook-alarms", { function: { functionName: "f", timeoutSeconds: 5 }, topic: TOPIC, errorLogGroupName: "/aws/lambda/f" });
    const json = Testing.synth(stack);
    expect(json).toHaveResourceWithProperties(
      { tfResourceType: "aws_cloudwatch_log_metric_filter" },
      { log_group_name: "/aws/lambda/f", pattern: '{ $.level = "error" }', metric_transformation: { name: "f-error-logs", namespace: "SmartHomeFleet/Functions", value: "1", unit: "Count" } },
    );
    expect(json).toHaveResourceWithProperties(
      { tfResourceType: "aws_cloudwatch_metric_alarm" },
      { alarm_name: "f-error-logs", namespace: "SmartHomeFleet/Functions", metric_name: "f-error-logs", statistic: "Sum", threshold: 1, alarm_actions: [TOPIC.topicArn] },
    );
  });

  test("fails when the duration threshold exceeds the timeout", () => {
    expect(() => synthAlarms({ durationThresholdMs: 6000 })).toThrow(/at most the function's timeout \(5000 ms\), got 6000/);
  });
});
