import { Testing, TerraformStack } from "cdktf";
import { FunctionAlarms, FunctionAlarmsProps, LogPatternAlarm, LogPatternAlarmProps } from "../../modules/alarms";

const TOPIC = { topicName: "shf-dev-alarms", topicArn: "arn:aws:sns:eu-west-1:111111111111:shf-dev-alarms" };

function synthAlarms(props: Partial<FunctionAlarmsProps> = {}) {
  const stack = new TerraformStack(Testing.app(), "test");
  new FunctionAlarms(stack, "hook-alarms", {
    function: { functionName: "shf-dev-provisioning-hook", timeoutSeconds: 5 },
    topic: TOPIC,
    durationThresholdMs: 4000,
    ...props,
  });
  return JSON.parse(Testing.synth(stack)).resource as Record<string, Record<string, Record<string, any>>>;
}
const alarmsOf = (resource: Record<string, Record<string, Record<string, any>>>) => Object.values(resource.aws_cloudwatch_metric_alarm ?? {});

describe("FunctionAlarms", () => {
  test("GIVEN a duration threshold THEN the one alarm is the function's slowest invocation at or above it, named after the function", () => {
    expect(alarmsOf(synthAlarms())).toEqual([
      expect.objectContaining({
        alarm_name: "shf-dev-provisioning-hook-duration",
        namespace: "AWS/Lambda",
        metric_name: "Duration",
        dimensions: { FunctionName: "shf-dev-provisioning-hook" },
        statistic: "Maximum",
        threshold: 4000,
        comparison_operator: "GreaterThanOrEqualToThreshold",
      }),
    ]);
  });

  test("GIVEN the duration alarm THEN it notifies the topic on alarm and on recovery, and treats quiet periods as healthy", () => {
    expect(alarmsOf(synthAlarms())[0]).toMatchObject({ alarm_actions: [TOPIC.topicArn], ok_actions: [TOPIC.topicArn], treat_missing_data: "notBreaching" });
  });

  test("GIVEN an error log THEN error-level JSON lines count into the shared metric, and no per-function alarm is made", () => {
    const resource = synthAlarms({ durationThresholdMs: undefined, errorLog: { logGroupName: "/aws/lambda/f", metricName: "shf-dev-function-error-logs" } });
    expect(alarmsOf(resource)).toEqual([]);
    expect(Object.values(resource.aws_cloudwatch_log_metric_filter)).toEqual([
      expect.objectContaining({
        name: "shf-dev-provisioning-hook-error-logs",
        log_group_name: "/aws/lambda/f",
        pattern: '{ $.level = "error" }',
        metric_transformation: { name: "shf-dev-function-error-logs", namespace: "SmartHomeFleet/Functions", value: "1", unit: "Count" },
      }),
    ]);
  });

  test("fails when the duration threshold exceeds the timeout", () => {
    expect(() => synthAlarms({ durationThresholdMs: 6000 })).toThrow(/at most the function's timeout \(5000 ms\), got 6000/);
  });

  test("fails when given nothing to alarm on (errors and throttles are environment-wide)", () => {
    expect(() => synthAlarms({ durationThresholdMs: undefined })).toThrow(/give durationThresholdMs or errorLog; .*LambdaAccountAlarms/);
  });
});

describe("LogPatternAlarm", () => {
  const base: LogPatternAlarmProps = {
    logGroupName: "/aws/lambda/shf-dev-provisioning-hook",
    filterPattern: "{ $.allowProvisioning IS FALSE }",
    name: "shf-dev-provisioning-denials",
    description: "denials",
    threshold: 20,
    topic: TOPIC,
  };
  function synthLogAlarm(props: Partial<LogPatternAlarmProps> = {}) {
    const stack = new TerraformStack(Testing.app(), "test");
    new LogPatternAlarm(stack, "denials", { ...base, ...props });
    return JSON.parse(Testing.synth(stack)).resource as Record<string, Record<string, any>>;
  }

  test("GIVEN a pattern THEN a metric filter counts each matching line as 1 under the given name", () => {
    const filter = Object.values(synthLogAlarm().aws_cloudwatch_log_metric_filter)[0];
    expect(filter).toMatchObject({
      name: "shf-dev-provisioning-denials",
      log_group_name: base.logGroupName,
      pattern: base.filterPattern,
      metric_transformation: { name: "shf-dev-provisioning-denials", value: "1", unit: "Count" },
    });
  });

  test("GIVEN a threshold and period THEN the alarm sums the metric per period and fires at the threshold", () => {
    const alarm = Object.values(synthLogAlarm({ periodMinutes: 15 }).aws_cloudwatch_metric_alarm)[0];
    expect(alarm).toMatchObject({
      alarm_name: "shf-dev-provisioning-denials",
      statistic: "Sum",
      period: 900,
      threshold: 20,
      evaluation_periods: 1,
      comparison_operator: "GreaterThanOrEqualToThreshold",
    });
  });

  test.each([
    ["the threshold is 0", { threshold: 0 }, /threshold must be a whole number >= 1, got 0/],
    ["the period is not whole", { periodMinutes: 1.5 }, /periodMinutes must be a whole number from 1 to 1440, got 1.5/],
    ["the period is longer than a day", { periodMinutes: 1441 }, /periodMinutes must be a whole number from 1 to 1440, got 1441/],
  ])("fails when %s", (_name, props, message) => {
    expect(() => synthLogAlarm(props)).toThrow(message);
  });
});
