import { Testing, TerraformStack } from "cdktf";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { IotTopicRule, IotTopicRuleConfig } from "@cdktf/provider-aws/lib/iot-topic-rule";
import {
  RULE_ERROR_PATTERN,
  RULE_EXECUTION_FAILURE_PATTERN,
  RULE_FAILURE_METRIC,
  RuleFailureAlarm,
  RuleFailureAlarmProps,
  ruleErrorLogGroups,
} from "../../modules/rule-failure-alarm";

const TOPIC = { topicName: "shf-dev-alarms", topicArn: "arn:aws:sns:eu-west-1:111111111111:shf-dev-alarms" };
type Resources = Record<string, Record<string, Record<string, any>>>;

function synthAlarm(props: Partial<RuleFailureAlarmProps> = {}): Resources {
  const stack = new TerraformStack(Testing.app(), "test");
  new RuleFailureAlarm(stack, "rule-failures", {
    logGroupNames: ["/shf-dev/iot/rule-errors", "/shf-dev/iot/telemetry-rule-errors"],
    filterName: "shf-dev-rule-action-failures",
    alarmName: "shf-dev-rule-action-failures",
    topic: TOPIC,
    ...props,
  });
  return JSON.parse(Testing.synth(stack)).resource as Resources;
}

/** A stack with a log group and rules whose error actions are given. */
function rulesWith(errorActions: (IotTopicRuleConfig["errorAction"] | "own-group")[]) {
  const stack = new TerraformStack(Testing.app(), "rules");
  const group = new CloudwatchLogGroup(stack, "rule-errors-log-group", { name: "/shf-dev/iot/rule-errors" });
  const rules = errorActions.map(
    (errorAction, i) =>
      new IotTopicRule(stack, `rule-${i}`, {
        name: `rule_${i}`,
        enabled: true,
        sql: "SELECT * FROM 'devices/+/errors'",
        sqlVersion: "2016-03-23",
        errorAction: errorAction === "own-group" ? { cloudwatchLogs: { logGroupName: group.name, roleArn: "arn:aws:iam::111111111111:role/r" } } : errorAction,
      }),
  );
  return { rules, groups: [group] };
}

describe("RuleFailureAlarm", () => {
  test("GIVEN two rule-errors log groups THEN each gets a filter counting every error-action message into one metric without dimensions", () => {
    const filters = Object.values(synthAlarm().aws_cloudwatch_log_metric_filter);
    expect(filters.map((f) => f.log_group_name)).toEqual(["/shf-dev/iot/rule-errors", "/shf-dev/iot/telemetry-rule-errors"]);
    for (const f of filters) {
      expect(f.pattern).toBe(RULE_ERROR_PATTERN);
      expect(f.metric_transformation).toEqual({ name: RULE_FAILURE_METRIC.name, namespace: RULE_FAILURE_METRIC.namespace, value: "1", unit: "Count" });
    }
  });

  test("GIVEN the metric THEN one alarm pages ALARM and OK on the first failure, quiet periods healthy, naming where to look", () => {
    const alarms = Object.values(synthAlarm().aws_cloudwatch_metric_alarm);
    expect(alarms).toEqual([
      expect.objectContaining({
        alarm_name: "shf-dev-rule-action-failures",
        namespace: RULE_FAILURE_METRIC.namespace,
        metric_name: RULE_FAILURE_METRIC.name,
        statistic: "Sum",
        period: 300,
        threshold: 1,
        treat_missing_data: "notBreaching",
        alarm_actions: [TOPIC.topicArn],
        ok_actions: [TOPIC.topicArn],
      }),
    ]);
    expect(alarms[0].dimensions).toBeUndefined();
    expect(alarms[0].alarm_description).toContain("/shf-dev/iot/rule-errors or /shf-dev/iot/telemetry-rule-errors");
  });

  test("GIVEN IoT Core's own log group THEN its failed RuleExecution entries count into the same metric, and the alarm says so", () => {
    const resource = synthAlarm({ iotCoreLogGroupName: "AWSIotLogsV2" });
    const iotCore = Object.values(resource.aws_cloudwatch_log_metric_filter).filter((f) => f.log_group_name === "AWSIotLogsV2");
    expect(iotCore).toEqual([
      expect.objectContaining({
        pattern: RULE_EXECUTION_FAILURE_PATTERN,
        metric_transformation: { name: RULE_FAILURE_METRIC.name, namespace: RULE_FAILURE_METRIC.namespace, value: "1", unit: "Count" },
      }),
    ]);
    expect(Object.values(resource.aws_cloudwatch_metric_alarm)[0].alarm_description).toContain("AWSIotLogsV2, eventType RuleExecution, status Failure");
  });

  test("GIVEN one group named twice THEN it gets one filter (a second would count each failure twice)", () => {
    expect(Object.values(synthAlarm({ logGroupNames: ["/g", "/g"] }).aws_cloudwatch_log_metric_filter)).toHaveLength(1);
  });

  test("fails when no log group is given", () => {
    expect(() => synthAlarm({ logGroupNames: [] })).toThrow(/logGroupNames is empty/);
  });

  test("fails when a log group name is a token (another stack's reference)", () => {
    const { groups } = rulesWith([]);
    expect(() => synthAlarm({ logGroupNames: [groups[0].name] })).toThrow(/no literal name/);
  });

  test("fails when the period is out of range", () => {
    expect(() => synthAlarm({ periodMinutes: 0 })).toThrow(/periodMinutes must be a whole number from 1 to 1440, got 0/);
  });
});

describe("ruleErrorLogGroups", () => {
  test("GIVEN rules whose error action writes to a group of their stack THEN the group's literal name", () => {
    const { rules, groups } = rulesWith(["own-group", "own-group"]);
    expect(ruleErrorLogGroups(rules, groups)).toEqual(["/shf-dev/iot/rule-errors", "/shf-dev/iot/rule-errors"]);
  });

  test("GIVEN a literal group name THEN that name", () => {
    const { rules, groups } = rulesWith([{ cloudwatchLogs: { logGroupName: "/other/group", roleArn: "arn:aws:iam::111111111111:role/r" } }]);
    expect(ruleErrorLogGroups(rules, groups)).toEqual(["/other/group"]);
  });

  test("fails when a rule has no error action (its failures would reach no alarm)", () => {
    const { rules, groups } = rulesWith([undefined]);
    expect(() => ruleErrorLogGroups(rules, groups)).toThrow(/rules\/rule-0 has no CloudWatch Logs error action/);
  });

  test("fails when a rule's error action is not CloudWatch Logs", () => {
    const { rules, groups } = rulesWith([{ sns: { targetArn: "arn:aws:sns:eu-west-1:111111111111:t", roleArn: "arn:aws:iam::111111111111:role/r" } }]);
    expect(() => ruleErrorLogGroups(rules, groups)).toThrow(/rules\/rule-0 has no CloudWatch Logs error action/);
  });

  test("fails when the group is not among the known log groups", () => {
    const { rules } = rulesWith(["own-group"]);
    expect(() => ruleErrorLogGroups(rules, [])).toThrow(/rules\/rule-0: its error action's log group .* has no literal name/);
  });
});
