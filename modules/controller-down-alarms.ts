import { Construct } from "constructs";
import { CloudwatchLogMetricFilter } from "@cdktf/provider-aws/lib/cloudwatch-log-metric-filter";
import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { LOG_METRICS_NAMESPACE, notifyingAlarm } from "./alarms";
import { TopicRef } from "./refs";

export interface ControllerDownAlarmsProps {
  /** The controller instance (ec2 stack `instanceId`). */
  readonly instanceId: string;
  /** Environment name: the dimension value of the container-health metric. */
  readonly environment: string;
  /** The host agent's container-health metric (1 healthy, 0 not): functions/shared/fleet-metrics.ts in the app. */
  readonly containerHealth: { readonly namespace: string; readonly metricName: string; readonly dimensionName: string };
  /** CloudWatch Logs filter pattern of one heartbeat line of the controller. */
  readonly heartbeatFilterPattern: string;
  /** The controller container's log group (awslogs driver), where its heartbeat lines land. */
  readonly logGroupName: string;
  /** Name of the heartbeat's metric filter and of its metric in LOG_METRICS_NAMESPACE (modules/naming.ts). */
  readonly heartbeatFilterName: string;
  readonly statusCheckAlarmName: string;
  readonly containerAlarmName: string;
  readonly heartbeatAlarmName: string;
  /** Where the alarms page. */
  readonly topic: TopicRef;
  /** Minutes a signal must be bad (or absent) before it pages (1 to 60). @default 3 */
  readonly minutes?: number;
}

/**
 * "The controller is down", told to people: one alarm per independent signal, so the page says which
 * layer failed — the instance (EC2 status checks), the container as the instance sees it (the host
 * agent's `ContainerHealthy`), and the controller itself (its heartbeat log lines). A dead instance sends
 * nothing at all, so every one of them treats missing data as breaching.
 *
 * @example new ControllerDownAlarms(this, "controller-down", { instanceId, environment, logGroupName, ..., topic: alarmTopic })
 */
export class ControllerDownAlarms extends Construct {
  readonly statusCheck: CloudwatchMetricAlarm;
  readonly container: CloudwatchMetricAlarm;
  readonly heartbeat: CloudwatchMetricAlarm;

  constructor(scope: Construct, id: string, props: ControllerDownAlarmsProps) {
    super(scope, id);
    const minutes = props.minutes ?? 3;
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 60) {
      throw new Error(`ControllerDownAlarms "${id}": minutes must be a whole number from 1 to 60, got ${minutes}`);
    }
    const paging = { ...notifyingAlarm(props.topic), evaluationPeriods: minutes, period: 60, treatMissingData: "breaching" };
    const health = props.containerHealth;

    // Status check metrics come every minute at no cost (basic monitoring).
    this.statusCheck = new CloudwatchMetricAlarm(this, "status-check", {
      ...paging,
      alarmName: props.statusCheckAlarmName,
      alarmDescription: `The controller instance failed its EC2 status checks (or sent none) for ${minutes} minutes: instance or hardware down`,
      namespace: "AWS/EC2",
      metricName: "StatusCheckFailed",
      dimensions: { InstanceId: props.instanceId },
      statistic: "Maximum",
      threshold: 1,
      comparisonOperator: "GreaterThanOrEqualToThreshold",
    });

    this.container = new CloudwatchMetricAlarm(this, "container", {
      ...paging,
      alarmName: props.containerAlarmName,
      alarmDescription: `The controller container was not running and healthy (or the instance reported nothing) for ${minutes} minutes`,
      namespace: health.namespace,
      metricName: health.metricName,
      dimensions: { [health.dimensionName]: props.environment },
      statistic: "Minimum",
      threshold: 1,
      comparisonOperator: "LessThanThreshold",
    });

    new CloudwatchLogMetricFilter(this, "heartbeat-filter", {
      name: props.heartbeatFilterName,
      logGroupName: props.logGroupName,
      pattern: props.heartbeatFilterPattern,
      // Metric filter dimensions must come from log fields, so the metric is per environment by name.
      metricTransformation: { name: props.heartbeatFilterName, namespace: LOG_METRICS_NAMESPACE, value: "1", unit: "Count" },
    });
    this.heartbeat = new CloudwatchMetricAlarm(this, "heartbeat", {
      ...paging,
      alarmName: props.heartbeatAlarmName,
      alarmDescription: `The controller logged no heartbeat for ${minutes} minutes: hung, disconnected or not running`,
      namespace: LOG_METRICS_NAMESPACE,
      metricName: props.heartbeatFilterName,
      statistic: "Sum",
      threshold: 1,
      comparisonOperator: "LessThanThreshold",
    });
  }
}
