/**
 * One alarm for the failed actions of every topic rule, instead of one `AWS/IoT Failure` alarm per rule
 * (AWS/IoT publishes `Failure` per RuleName only, and a metric-math alarm is billed per metric it reads).
 * Each rule's error action writes one JSON message per failed message into a CloudWatch Logs group
 * (https://docs.aws.amazon.com/iot/latest/developerguide/rule-error-handling.html: `ruleName`, `topic`,
 * `failures[]`); a metric filter on each such group counts them into one metric without dimensions,
 * and one alarm pages on the first. The description names the groups, where the failed message is.
 * IoT Core's own log (at WARN or below it logs each failed action as an ERROR `RuleExecution` entry:
 * https://docs.aws.amazon.com/iot/latest/developerguide/diagnosing-rules.html) counts into the same
 * metric, so a failure still pages when the error action itself cannot write (e.g. its role broke).
 *
 * @example new RuleFailureAlarm(this, "rule-failures", { logGroupNames: ["/shf-dev/iot/rule-errors"], filterName, alarmName, topic })
 */
import { Construct } from "constructs";
import { CloudwatchLogMetricFilter } from "@cdktf/provider-aws/lib/cloudwatch-log-metric-filter";
import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { IotTopicRule } from "@cdktf/provider-aws/lib/iot-topic-rule";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { DefaultTokenResolver, StringConcat, TerraformStack, Token, Tokenization } from "cdktf";
import { notifyingAlarm } from "./alarms";
import { TopicRef } from "./refs";

/** The metric every rule-errors log group counts into (no dimensions: one account per environment). */
export const RULE_FAILURE_METRIC = { namespace: "SmartHomeFleet/Rules", name: "RuleActionFailures" } as const;

/** Every error-action message has the rule's name; the group holds nothing else. */
export const RULE_ERROR_PATTERN = "{ $.ruleName = * }";
/** A failed rule action in IoT Core's own log (AWSIotLogsV2). */
export const RULE_EXECUTION_FAILURE_PATTERN = '{ ($.eventType = "RuleExecution") && ($.status = "Failure") }';

export interface RuleFailureAlarmProps {
  /** The log groups the rules' error actions write to (at least one; literal names, they may live in other stacks). */
  readonly logGroupNames: readonly string[];
  /**
   * IoT Core's own log group (`AWSIotLogsV2`, IoT logging at ERROR, WARN, INFO or DEBUG): its failed
   * `RuleExecution` entries count too. @default none
   */
  readonly iotCoreLogGroupName?: string;
  /** Name of each metric filter (one per group; AWS scopes filter names to their group). */
  readonly filterName: string;
  /** From stacks/shared/naming.ts. */
  readonly alarmName: string;
  /** Where alarm and OK notifications go. */
  readonly topic: TopicRef;
  /** Length of the evaluation period in minutes (1 to 1440). @default 5 */
  readonly periodMinutes?: number;
}

export class RuleFailureAlarm extends Construct {
  readonly alarm: CloudwatchMetricAlarm;
  readonly filters: CloudwatchLogMetricFilter[];

  constructor(scope: Construct, id: string, props: RuleFailureAlarmProps) {
    super(scope, id);
    const periodMinutes = props.periodMinutes ?? 5;
    if (!Number.isInteger(periodMinutes) || periodMinutes < 1 || periodMinutes > 1440) {
      throw new Error(`RuleFailureAlarm "${id}": periodMinutes must be a whole number from 1 to 1440, got ${periodMinutes}`);
    }
    const groups = [...new Set(props.logGroupNames)].sort();
    if (groups.length === 0) throw new Error(`RuleFailureAlarm "${id}": logGroupNames is empty; an alarm on a metric nothing publishes never fires`);
    for (const group of [...groups, ...(props.iotCoreLogGroupName === undefined ? [] : [props.iotCoreLogGroupName])]) {
      if (Token.isUnresolved(group)) throw new Error(`RuleFailureAlarm "${id}": log group ${group} has no literal name; name it from stacks/shared/naming.ts`);
    }
    // Construct ids from the group names: adding a group never renames another group's filter.
    const sources = groups.map((group) => ({ id: `filter${group.replace(/[^A-Za-z0-9]+/g, "-")}`, group, pattern: RULE_ERROR_PATTERN }));
    if (props.iotCoreLogGroupName !== undefined)
      sources.push({ id: "filter-iot-core-log", group: props.iotCoreLogGroupName, pattern: RULE_EXECUTION_FAILURE_PATTERN });
    this.filters = sources.map(
      ({ id: filterId, group, pattern }) =>
        new CloudwatchLogMetricFilter(this, filterId, {
          name: props.filterName,
          logGroupName: group,
          pattern,
          metricTransformation: { name: RULE_FAILURE_METRIC.name, namespace: RULE_FAILURE_METRIC.namespace, value: "1", unit: "Count" },
        }),
    );
    const iotCoreNote =
      props.iotCoreLogGroupName === undefined ? "" : `; IoT Core logs it too (${props.iotCoreLogGroupName}, eventType RuleExecution, status Failure)`;
    this.alarm = new CloudwatchMetricAlarm(this, "alarm", {
      alarmName: props.alarmName,
      alarmDescription:
        `A topic rule failed to run an action at least once in ${periodMinutes} minutes: those messages were not delivered. ` +
        `Each failure is a JSON line (ruleName, topic, failures[].errorMessage, base64OriginalPayload) in ${groups.join(" or ")}${iotCoreNote}`,
      namespace: RULE_FAILURE_METRIC.namespace,
      metricName: RULE_FAILURE_METRIC.name,
      statistic: "Sum",
      period: periodMinutes * 60,
      ...notifyingAlarm(props.topic),
    });
  }
}

/**
 * The log group each rule's error action writes to, by literal name, or an error naming the rule whose
 * error action is missing or is not CloudWatch Logs (its failures would not reach the alarm).
 */
export function ruleErrorLogGroups(rules: readonly IotTopicRule[], logGroups: readonly CloudwatchLogGroup[]): string[] {
  return rules.map((rule) => {
    const stack = TerraformStack.of(rule);
    const target = rule.errorActionInput?.cloudwatchLogs?.logGroupName;
    if (target === undefined) {
      throw new Error(`topic rule ${rule.node.path} has no CloudWatch Logs error action: give it one so its failures reach the rule-failure alarm`);
    }
    if (!Token.isUnresolved(target)) return target;
    // A reference to a group of the rule's own stack (`${aws_cloudwatch_log_group.<id>.name}`): its literal name.
    const resolved = String(Tokenization.resolve(target, { scope: stack, preparing: false, resolver: new DefaultTokenResolver(new StringConcat()) }));
    const group = logGroups.find((g) => TerraformStack.of(g) === stack && resolved === `\${aws_cloudwatch_log_group.${g.friendlyUniqueId}.name}`);
    const name = group?.nameInput;
    if (name === undefined || Token.isUnresolved(name)) {
      throw new Error(`topic rule ${rule.node.path}: its error action's log group (${resolved}) has no literal name; name it from stacks/shared/naming.ts`);
    }
    return name;
  });
}
