import { Testing, TerraformStack } from "cdktf";
import { LambdaAccountAlarms, LambdaAccountAlarmsProps } from "../../modules/lambda-account-alarms";
import { LAMBDA_WIDGETS } from "../../modules/fleet-dashboard";

const TOPIC = { topicName: "shf-dev-alarms", topicArn: "arn:aws:sns:eu-west-1:111111111111:shf-dev-alarms" };
const base: LambdaAccountAlarmsProps = {
  topic: TOPIC,
  errorsAlarmName: "shf-dev-lambda-errors",
  throttlesAlarmName: "shf-dev-lambda-throttles",
  errorLogsAlarmName: "shf-dev-function-error-logs",
  errorLogsMetricName: "shf-dev-function-error-logs",
  errorLogFilters: 2,
  dashboardName: "shf-dev-fleet",
};

function synth(props: Partial<LambdaAccountAlarmsProps> = {}) {
  const stack = new TerraformStack(Testing.app(), "test");
  new LambdaAccountAlarms(stack, "lambda-alarms", { ...base, ...props });
  const alarms = Object.values(JSON.parse(Testing.synth(stack)).resource.aws_cloudwatch_metric_alarm) as Record<string, any>[];
  return (name: string) => alarms.find((a) => a.alarm_name === name)!;
}

describe("LambdaAccountAlarms", () => {
  test.each([
    ["shf-dev-lambda-errors", "Errors"],
    ["shf-dev-lambda-throttles", "Throttles"],
  ])("GIVEN the %s alarm THEN it sums the account-wide AWS/Lambda %s metric: no dimensions at all", (name, metric) => {
    const alarm = synth()(name);
    expect(alarm).toMatchObject({ namespace: "AWS/Lambda", metric_name: metric, statistic: "Sum", period: 300, threshold: 1 });
    expect(alarm).not.toHaveProperty("dimensions");
    expect(alarm).not.toHaveProperty("metric_query");
  });

  test("GIVEN the error-log alarm THEN it sums the one shared log metric without dimensions", () => {
    const alarm = synth()("shf-dev-function-error-logs");
    expect(alarm).toMatchObject({ namespace: "SmartHomeFleet/Functions", metric_name: "shf-dev-function-error-logs", statistic: "Sum", threshold: 1 });
    expect(alarm).not.toHaveProperty("dimensions");
    expect(alarm.alarm_description).toContain("2 CloudWatch Logs metric filters");
  });

  test("GIVEN any of the three THEN ALARM and OK go to the alarm topic, one period decides and missing data is not breaching", () => {
    const find = synth();
    for (const name of [base.errorsAlarmName, base.throttlesAlarmName, base.errorLogsAlarmName]) {
      expect(find(name)).toMatchObject({
        alarm_actions: [TOPIC.topicArn],
        ok_actions: [TOPIC.topicArn],
        treat_missing_data: "notBreaching",
        evaluation_periods: 1,
        comparison_operator: "GreaterThanOrEqualToThreshold",
      });
    }
  });

  test("GIVEN the descriptions THEN they state the one-account-per-environment scope and point to the dashboard's per-function widget", () => {
    const find = synth();
    expect(find(base.errorsAlarmName).alarm_description).toMatch(/each environment has its own account/);
    expect(find(base.errorsAlarmName).alarm_description).toContain(`"${LAMBDA_WIDGETS.errors}" widget of dashboard shf-dev-fleet`);
    expect(find(base.throttlesAlarmName).alarm_description).toContain(`"${LAMBDA_WIDGETS.throttles}" widget of dashboard shf-dev-fleet`);
    expect(find(base.errorsAlarmName).alarm_description).toMatch(/timeout/);
  });

  test.each([
    ["no filter feeds the error-log metric", { errorLogFilters: 0 }, /errorLogFilters must be a whole number >= 1 .* got 0/],
    ["the period is not whole", { periodMinutes: 2.5 }, /periodMinutes must be a whole number from 1 to 1440, got 2.5/],
  ])("fails when %s", (_name, props, message) => {
    expect(() => synth(props)).toThrow(message);
  });
});
