import { Testing, TerraformStack } from "cdktf";
import { FunctionAlarms, FunctionAlarmsProps, LogPatternAlarm, LogPatternAlarmProps } from "../../modules/alarms";

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
    expect(
      synthAlarms()
        .map((a) => a.alarm_name)
        .sort(),
    ).toEqual(["duration", "errors", "throttles"].map((s) => `shf-dev-provisioning-hook-${s}`));
  });

  test("alarms on error-level JSON log lines when given the log group", () => {
    const stack = new TerraformStack(Testing.app(), "test");
    new FunctionAlarms(stack, "hook-alarms", { function: { functionName: "f", timeoutSeconds: 5 }, topic: TOPIC, errorLogGroupName: "/aws/lambda/f" });
    const json = Testing.synth(stack);
    expect(json).toHaveResourceWithProperties(
      { tfResourceType: "aws_cloudwatch_log_metric_filter" },
      {
        log_group_name: "/aws/lambda/f",
        pattern: '{ $.level = "error" }',
        metric_transformation: { name: "f-error-logs", namespace: "SmartHomeFleet/Functions", value: "1", unit: "Count" },
      },
    );
    expect(json).toHaveResourceWithProperties(
      { tfResourceType: "aws_cloudwatch_metric_alarm" },
      {
        alarm_name: "f-error-logs",
        namespace: "SmartHomeFleet/Functions",
        metric_name: "f-error-logs",
        statistic: "Sum",
        threshold: 1,
        alarm_actions: [TOPIC.topicArn],
      },
    );
  });

  test("fails when the duration threshold exceeds the timeout", () => {
    expect(() => synthAlarms({ durationThresholdMs: 6000 })).toThrow(/at most the function's timeout \(5000 ms\), got 6000/);
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
