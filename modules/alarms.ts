import { Construct } from "constructs";
import { CloudwatchLogMetricFilter } from "@cdktf/provider-aws/lib/cloudwatch-log-metric-filter";
import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { TopicRef } from "./refs";

/** What FunctionAlarms needs of a function. */
export interface AlarmedFunction {
  readonly functionName: string;
  readonly timeoutSeconds: number;
}

export interface FunctionAlarmsProps {
  readonly function: AlarmedFunction;
  /** Where alarm and OK notifications go: a topic CloudWatch may publish to (see AlertTopic.cloudWatchAlarms). */
  readonly topic: TopicRef;
  /** Alarm when the slowest invocation of a 5-minute period takes at least this long. @default 80% of the function's timeout */
  readonly durationThresholdMs?: number;
  /** Minutes per evaluation period. @default 5 */
  readonly periodMinutes?: number;
  /**
   * Also alarm on JSON log lines with `"level": "error"` in this log group: for a function that
   * reports failures in its answer instead of failing (the provisioning hook denies, it never errors).
   * @default no log alarm
   */
  readonly errorLogGroupName?: string;
}

/**
 * What every alarm that tells people shares: one period decides, at or above the threshold (default:
 * any occurrence), periods without data are healthy, and the topic hears both ALARM and OK.
 */
export function notifyingAlarm(topic: TopicRef, threshold = 1) {
  return {
    evaluationPeriods: 1,
    threshold,
    comparisonOperator: "GreaterThanOrEqualToThreshold",
    treatMissingData: "notBreaching",
    alarmActions: [topic.topicArn],
    okActions: [topic.topicArn],
  };
}

/** Namespace of the metrics derived from function logs. */
export const LOG_METRICS_NAMESPACE = "SmartHomeFleet/Functions";

/**
 * Errors, throttles and near-timeout duration alarms for one Lambda function, notifying a topic on
 * ALARM and on OK. Periods without invocations count as healthy.
 *
 * @example new FunctionAlarms(this, "hook-alarms", { function: hook, topic: alarmTopic, durationThresholdMs: 4000 })
 */
export class FunctionAlarms extends Construct {
  readonly errors: CloudwatchMetricAlarm;
  readonly throttles: CloudwatchMetricAlarm;
  readonly duration: CloudwatchMetricAlarm;
  readonly errorLogs?: CloudwatchMetricAlarm;

  constructor(scope: Construct, id: string, props: FunctionAlarmsProps) {
    super(scope, id);
    const timeoutMs = props.function.timeoutSeconds * 1000;
    const durationThresholdMs = props.durationThresholdMs ?? Math.floor(timeoutMs * 0.8);
    if (!Number.isFinite(durationThresholdMs) || durationThresholdMs <= 0 || durationThresholdMs > timeoutMs) {
      throw new Error(
        `FunctionAlarms "${id}": durationThresholdMs must be above 0 and at most the function's timeout (${timeoutMs} ms), got ${durationThresholdMs}`,
      );
    }
    const periodMinutes = props.periodMinutes ?? 5;
    if (!Number.isInteger(periodMinutes) || periodMinutes < 1) {
      throw new Error(`FunctionAlarms "${id}": periodMinutes must be a whole number >= 1, got ${periodMinutes}`);
    }

    const fn = props.function.functionName;
    const common = {
      namespace: "AWS/Lambda",
      dimensions: { FunctionName: fn },
      period: periodMinutes * 60,
      ...notifyingAlarm(props.topic),
    };
    this.errors = new CloudwatchMetricAlarm(this, "errors", {
      ...common,
      alarmName: `${fn}-errors`,
      alarmDescription: `${fn} failed at least once in ${periodMinutes} minutes`,
      metricName: "Errors",
      statistic: "Sum",
      threshold: 1,
    });
    this.throttles = new CloudwatchMetricAlarm(this, "throttles", {
      ...common,
      alarmName: `${fn}-throttles`,
      alarmDescription: `${fn} was throttled at least once in ${periodMinutes} minutes`,
      metricName: "Throttles",
      statistic: "Sum",
      threshold: 1,
    });
    this.duration = new CloudwatchMetricAlarm(this, "duration", {
      ...common,
      alarmName: `${fn}-duration`,
      alarmDescription: `${fn} took ${durationThresholdMs} ms or longer (timeout ${timeoutMs} ms)`,
      metricName: "Duration",
      statistic: "Maximum",
      threshold: durationThresholdMs,
    });

    if (props.errorLogGroupName) {
      const metricName = `${fn}-error-logs`;
      new CloudwatchLogMetricFilter(this, "error-log-filter", {
        name: metricName,
        logGroupName: props.errorLogGroupName,
        pattern: '{ $.level = "error" }',
        metricTransformation: { name: metricName, namespace: LOG_METRICS_NAMESPACE, value: "1", unit: "Count" },
      });
      this.errorLogs = new CloudwatchMetricAlarm(this, "error-logs", {
        ...common,
        namespace: LOG_METRICS_NAMESPACE,
        dimensions: undefined,
        alarmName: metricName,
        alarmDescription: `${fn} logged at least one error in ${periodMinutes} minutes`,
        metricName,
        statistic: "Sum",
        threshold: 1,
      });
    }
  }
}

export interface LogPatternAlarmProps {
  /** Log group whose lines are counted. */
  readonly logGroupName: string;
  /** CloudWatch Logs filter pattern of one counted line, e.g. `{ $.allowProvisioning IS FALSE }`. */
  readonly filterPattern: string;
  /** Name of the metric filter, the metric (in LOG_METRICS_NAMESPACE) and the alarm, from stacks/shared/naming.ts. */
  readonly name: string;
  readonly description: string;
  /** Matching lines per period that raise the alarm (whole number >= 1). */
  readonly threshold: number;
  /** Length of the evaluation period (1 to 1440). @default 5 */
  readonly periodMinutes?: number;
  /** Where alarm and OK notifications go. */
  readonly topic: TopicRef;
}

/**
 * Counts log lines that match a pattern and alarms when at least `threshold` arrive within one period
 * (a rate), notifying a topic on ALARM and on OK. Periods without matching lines count as healthy.
 *
 * @example new LogPatternAlarm(this, "denials", { logGroupName, filterPattern: "{ $.allowProvisioning IS FALSE }", name, description, threshold: 20, topic })
 */
export class LogPatternAlarm extends Construct {
  readonly alarm: CloudwatchMetricAlarm;
  readonly metricName: string;

  constructor(scope: Construct, id: string, props: LogPatternAlarmProps) {
    super(scope, id);
    const periodMinutes = props.periodMinutes ?? 5;
    if (!Number.isInteger(props.threshold) || props.threshold < 1) {
      throw new Error(`LogPatternAlarm "${id}": threshold must be a whole number >= 1, got ${props.threshold}`);
    }
    if (!Number.isInteger(periodMinutes) || periodMinutes < 1 || periodMinutes > 1440) {
      throw new Error(`LogPatternAlarm "${id}": periodMinutes must be a whole number from 1 to 1440, got ${periodMinutes}`);
    }
    this.metricName = props.name;
    new CloudwatchLogMetricFilter(this, "filter", {
      name: props.name,
      logGroupName: props.logGroupName,
      pattern: props.filterPattern,
      metricTransformation: { name: props.name, namespace: LOG_METRICS_NAMESPACE, value: "1", unit: "Count" },
    });
    this.alarm = new CloudwatchMetricAlarm(this, "alarm", {
      alarmName: props.name,
      alarmDescription: props.description,
      namespace: LOG_METRICS_NAMESPACE,
      metricName: props.name,
      statistic: "Sum",
      period: periodMinutes * 60,
      ...notifyingAlarm(props.topic, props.threshold),
    });
  }
}
