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
  /**
   * Alarm when the slowest invocation of a period takes at least this long: only for a function with a
   * deadline shorter than its timeout (the provisioning hook, which AWS gives 5 s). A timed-out invocation
   * already counts in Lambda's `Errors`, which LambdaAccountAlarms watches for every function.
   * @default no duration alarm
   */
  readonly durationThresholdMs?: number;
  /** Minutes per evaluation period. @default 5 */
  readonly periodMinutes?: number;
  /**
   * Count JSON log lines with `"level": "error"` in this log group into a metric shared by several
   * functions (LambdaAccountAlarms alarms on it once): for a function that reports failures in its
   * answer instead of failing (the provisioning hook denies, it never errors).
   * @default no error-log metric
   */
  readonly errorLog?: { readonly logGroupName: string; readonly metricName: string };
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

/** The filter pattern of an error-level JSON log line (Powertools-style `level`). */
export const ERROR_LOG_PATTERN = '{ $.level = "error" }';

/**
 * What one function needs beyond the environment-wide Errors and Throttles alarms (LambdaAccountAlarms):
 * a near-deadline Duration alarm, and/or its error-level log lines counted into a shared metric.
 *
 * @example new FunctionAlarms(this, "hook-alarms", { function: hook, topic, durationThresholdMs: 4000, errorLog: { logGroupName, metricName } })
 */
export class FunctionAlarms extends Construct {
  readonly duration?: CloudwatchMetricAlarm;
  readonly errorLogFilter?: CloudwatchLogMetricFilter;

  constructor(scope: Construct, id: string, props: FunctionAlarmsProps) {
    super(scope, id);
    const fn = props.function.functionName;
    if (props.durationThresholdMs === undefined && props.errorLog === undefined) {
      throw new Error(
        `FunctionAlarms "${id}": give durationThresholdMs or errorLog; errors and throttles of ${fn} are covered by the environment-wide LambdaAccountAlarms`,
      );
    }
    const periodMinutes = props.periodMinutes ?? 5;
    if (!Number.isInteger(periodMinutes) || periodMinutes < 1) {
      throw new Error(`FunctionAlarms "${id}": periodMinutes must be a whole number >= 1, got ${periodMinutes}`);
    }

    if (props.durationThresholdMs !== undefined) {
      const timeoutMs = props.function.timeoutSeconds * 1000;
      const thresholdMs = props.durationThresholdMs;
      if (!Number.isFinite(thresholdMs) || thresholdMs <= 0 || thresholdMs > timeoutMs) {
        throw new Error(`FunctionAlarms "${id}": durationThresholdMs must be above 0 and at most the function's timeout (${timeoutMs} ms), got ${thresholdMs}`);
      }
      this.duration = new CloudwatchMetricAlarm(this, "duration", {
        alarmName: `${fn}-duration`,
        alarmDescription: `${fn} took ${thresholdMs} ms or longer (timeout ${timeoutMs} ms)`,
        namespace: "AWS/Lambda",
        metricName: "Duration",
        dimensions: { FunctionName: fn },
        statistic: "Maximum",
        period: periodMinutes * 60,
        ...notifyingAlarm(props.topic, thresholdMs),
      });
    }

    if (props.errorLog) {
      // The filter keeps its per-function name (and Terraform address); only the metric is shared.
      this.errorLogFilter = new CloudwatchLogMetricFilter(this, "error-log-filter", {
        name: `${fn}-error-logs`,
        logGroupName: props.errorLog.logGroupName,
        pattern: ERROR_LOG_PATTERN,
        metricTransformation: { name: props.errorLog.metricName, namespace: LOG_METRICS_NAMESPACE, value: "1", unit: "Count" },
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
