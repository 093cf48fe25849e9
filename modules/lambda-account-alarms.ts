import { Construct } from "constructs";
import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { TopicRef } from "./refs";
import { LOG_METRICS_NAMESPACE, notifyingAlarm } from "./alarms";
import { LAMBDA_WIDGETS } from "./fleet-dashboard";

export interface LambdaAccountAlarmsProps {
  /** Where alarm and OK notifications go (see AlertTopic.cloudWatchAlarms). */
  readonly topic: TopicRef;
  /** Names of the three alarms, from stacks/shared/naming.ts. */
  readonly errorsAlarmName: string;
  readonly throttlesAlarmName: string;
  readonly errorLogsAlarmName: string;
  /** The shared metric (in LOG_METRICS_NAMESPACE) that FunctionAlarms' error-log filters publish to. */
  readonly errorLogsMetricName: string;
  /** How many metric filters publish to that metric (at least one, or the alarm could never fire). */
  readonly errorLogFilters: number;
  /** The dashboard with the per-function Lambda widgets, named in the descriptions. */
  readonly dashboardName: string;
  /** Minutes per evaluation period. @default 5 */
  readonly periodMinutes?: number;
}

/**
 * Three alarms that page for every Lambda function of an environment, instead of two per function:
 * AWS/Lambda `Errors` and `Throttles` without dimensions, which Lambda publishes aggregated across all
 * functions of the account and Region (so this assumes one account per environment, as config/ has),
 * and one alarm on the error-level log lines that several functions count into one metric. A
 * timed-out invocation counts in `Errors`. Periods without data are healthy; the topic hears ALARM and OK.
 *
 * @example new LambdaAccountAlarms(this, "lambda-alarms", { topic, errorsAlarmName, throttlesAlarmName, errorLogsAlarmName, errorLogsMetricName, errorLogFilters: 2, dashboardName })
 */
export class LambdaAccountAlarms extends Construct {
  readonly errors: CloudwatchMetricAlarm;
  readonly throttles: CloudwatchMetricAlarm;
  readonly errorLogs: CloudwatchMetricAlarm;

  constructor(scope: Construct, id: string, props: LambdaAccountAlarmsProps) {
    super(scope, id);
    const periodMinutes = props.periodMinutes ?? 5;
    if (!Number.isInteger(periodMinutes) || periodMinutes < 1 || periodMinutes > 1440) {
      throw new Error(`LambdaAccountAlarms "${id}": periodMinutes must be a whole number from 1 to 1440, got ${periodMinutes}`);
    }
    if (!Number.isInteger(props.errorLogFilters) || props.errorLogFilters < 1) {
      throw new Error(
        `LambdaAccountAlarms "${id}": errorLogFilters must be a whole number >= 1 (an alarm on a metric nothing publishes never fires), got ${props.errorLogFilters}`,
      );
    }
    const period = periodMinutes * 60;
    const scopeNote = "(all functions of this environment's account and Region: each environment has its own account)";
    const lookAt = (widget: string) => `open the "${widget}" widget of dashboard ${props.dashboardName} to see which function`;

    this.errors = new CloudwatchMetricAlarm(this, "errors", {
      alarmName: props.errorsAlarmName,
      alarmDescription: `A Lambda function failed (an exception or a timeout) at least once in ${periodMinutes} minutes ${scopeNote}; ${lookAt(LAMBDA_WIDGETS.errors)}`,
      namespace: "AWS/Lambda",
      metricName: "Errors",
      statistic: "Sum",
      period,
      ...notifyingAlarm(props.topic),
    });
    this.throttles = new CloudwatchMetricAlarm(this, "throttles", {
      alarmName: props.throttlesAlarmName,
      alarmDescription: `A Lambda invocation was throttled at least once in ${periodMinutes} minutes ${scopeNote}; ${lookAt(LAMBDA_WIDGETS.throttles)}`,
      namespace: "AWS/Lambda",
      metricName: "Throttles",
      statistic: "Sum",
      period,
      ...notifyingAlarm(props.topic),
    });
    this.errorLogs = new CloudwatchMetricAlarm(this, "error-logs", {
      alarmName: props.errorLogsAlarmName,
      alarmDescription:
        `A function logged at least one error-level line in ${periodMinutes} minutes without failing (a denial or a partial batch failure); ` +
        `the ${props.errorLogFilters} CloudWatch Logs metric filters that publish ${LOG_METRICS_NAMESPACE}/${props.errorLogsMetricName} name the log groups to search for "level":"error"`,
      namespace: LOG_METRICS_NAMESPACE,
      metricName: props.errorLogsMetricName,
      statistic: "Sum",
      period,
      ...notifyingAlarm(props.topic),
    });
  }
}
