import { Construct } from "constructs";
import { CloudwatchDashboard } from "@cdktf/provider-aws/lib/cloudwatch-dashboard";

/** One metric line of a widget: namespace, metric name, then dimension name/value pairs, then options. */
type MetricLine = (string | Record<string, string>)[];

/** Titles of the per-function Lambda widgets, which the environment-wide alarms point the reader to. */
export const LAMBDA_WIDGETS = { errors: "Lambda errors", throttles: "Lambda throttles" } as const;

export interface FleetDashboardProps {
  /** Dashboard name (modules/naming.ts `fleetDashboard`). */
  readonly dashboardName: string;
  readonly region: string;
  /** Every Lambda function of the app (errors, throttles). */
  readonly functionNames: readonly string[];
  /** The pre-provisioning hook: its p99 duration against AWS's 5 s limit. */
  readonly hookFunctionName: string;
  /** Every topic rule of the app (matches, failures, throttles). */
  readonly ruleNames: readonly string[];
  /** The rule that stores every telemetry message (its TopicMatch counts them). */
  readonly telemetryRuleName: string;
  /** Every dead-letter / async-failure queue of the app. */
  readonly deadLetterQueueNames: readonly string[];
  /** Log metrics of the hook's decisions (namespace and metric names). */
  readonly provisioning: { readonly namespace: string; readonly allowsMetric: string; readonly denialsMetric: string };
  /** The alert path's metrics (functions/shared/alert-metrics.ts ALERT_METRICS: one line per metric, labelled by its key) and this environment's dimension value. */
  readonly alerts: { readonly namespace: string; readonly dimension: string; readonly environment: string; readonly metrics: Readonly<Record<string, string>> };
  /** The controller: its instance, its health metrics and the alarms that page when it is down. */
  readonly controller: {
    readonly instanceId: string;
    readonly healthNamespace: string;
    readonly healthDimension: string;
    readonly containerHealthyMetric: string;
    readonly heartbeatNamespace: string;
    readonly heartbeatMetric: string;
    readonly alarmArns: readonly string[];
  };
}

const FULL = 24;
const HALF = 12;
const HEIGHT = 6;

/**
 * The CloudWatch dashboard body (the `DashboardBody` JSON AWS documents): rows of widgets for the fleet
 * (connections, provisioning), the cloud path (rules, telemetry, alerts, functions) and what needs a
 * person (controller health, dead letters). Pure, so tests can read every widget.
 */
export function fleetDashboardBody(p: FleetDashboardProps): { widgets: Record<string, unknown>[] } {
  const widgets: Record<string, unknown>[] = [];
  let y = 0;
  const row = (...items: { title: string; metrics: MetricLine[]; stat?: string; period?: number; width?: number; yAxisMin?: number }[]) => {
    let x = 0;
    for (const item of items) {
      const width = item.width ?? FULL / items.length;
      widgets.push({
        type: "metric",
        x,
        y,
        width,
        height: HEIGHT,
        properties: {
          title: item.title,
          region: p.region,
          view: "timeSeries",
          stacked: false,
          stat: item.stat ?? "Sum",
          period: item.period ?? 300,
          metrics: item.metrics,
          ...(item.yAxisMin !== undefined ? { yAxis: { left: { min: item.yAxisMin } } } : {}),
        },
      });
      x += width;
    }
    y += HEIGHT;
  };

  widgets.push({
    type: "text",
    x: 0,
    y,
    width: FULL,
    height: 2,
    properties: {
      markdown: `# Smart-home fleet (${p.alerts.environment})\nDevices, provisioning, rules, alerts, functions, the controller and dead letters. A dead-letter queue that is not empty needs a person: README "Redriving failed invocations".`,
    },
  });
  y += 2;

  widgets.push({
    type: "alarm",
    x: 0,
    y,
    width: HALF,
    height: HEIGHT,
    properties: { title: "Controller down? (each signal pages on its own)", alarms: [...p.controller.alarmArns] },
  });
  widgets.push({
    type: "metric",
    x: HALF,
    y,
    width: HALF,
    height: HEIGHT,
    properties: {
      title: "Controller health: status check failed, container healthy, heartbeat lines",
      region: p.region,
      view: "timeSeries",
      stacked: false,
      period: 60,
      metrics: [
        ["AWS/EC2", "StatusCheckFailed", "InstanceId", p.controller.instanceId, { stat: "Maximum", label: "StatusCheckFailed" }],
        [
          p.controller.healthNamespace,
          p.controller.containerHealthyMetric,
          p.controller.healthDimension,
          p.alerts.environment,
          { stat: "Minimum", label: "ContainerHealthy" },
        ],
        [p.controller.heartbeatNamespace, p.controller.heartbeatMetric, { stat: "Sum", label: "Heartbeats" }],
      ],
    },
  });
  y += HEIGHT;

  row(
    {
      title: "Device connections and messages in (MQTT)",
      metrics: [
        ["AWS/IoT", "Connect.Success", "Protocol", "MQTT", { label: "Connect.Success" }],
        ["AWS/IoT", "PublishIn.Success", "Protocol", "MQTT", { label: "PublishIn.Success" }],
      ],
    },
    {
      title: "Provisioning: hook allows and denies",
      metrics: [
        [p.provisioning.namespace, p.provisioning.allowsMetric, { label: "allowed" }],
        [p.provisioning.namespace, p.provisioning.denialsMetric, { label: "denied" }],
      ],
    },
    {
      title: "Provisioning hook latency p99 (AWS fails the request at 5000 ms)",
      stat: "p99",
      period: 60,
      metrics: [["AWS/Lambda", "Duration", "FunctionName", p.hookFunctionName, { label: "p99 ms" }]],
    },
  );

  row(
    {
      title: "Rule failures (a failed action; see the rule-errors log groups)",
      metrics: p.ruleNames.map((r) => ["AWS/IoT", "Failure", "RuleName", r, { label: r }]),
    },
    { title: "Rule messages throttled", metrics: p.ruleNames.map((r) => ["AWS/IoT", "RuleMessageThrottled", "RuleName", r, { label: r }]) },
    {
      title: "Telemetry messages (store rule matches)",
      metrics: [["AWS/IoT", "TopicMatch", "RuleName", p.telemetryRuleName, { label: "telemetry messages" }]],
    },
  );

  const a = p.alerts;
  row(
    {
      title: "Alerts sent and suppressed",
      width: HALF,
      metrics: Object.entries(a.metrics).map(([label, metric]) => [a.namespace, metric, a.dimension, a.environment, { label }]),
    },
    {
      title: "Dead letters waiting (any > 0 pages)",
      width: HALF,
      stat: "Maximum",
      metrics: p.deadLetterQueueNames.map((q) => ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q, { label: q }]),
    },
  );

  row(
    { title: LAMBDA_WIDGETS.errors, metrics: p.functionNames.map((f) => ["AWS/Lambda", "Errors", "FunctionName", f, { label: f }]) },
    { title: LAMBDA_WIDGETS.throttles, metrics: p.functionNames.map((f) => ["AWS/Lambda", "Throttles", "FunctionName", f, { label: f }]) },
  );
  return { widgets };
}

/**
 * The fleet at a glance: one CloudWatch dashboard per environment (body from {@link fleetDashboardBody}).
 *
 * @example new FleetDashboard(this, "fleet-dashboard", { dashboardName: names.fleetDashboard, region, functionNames, ... })
 */
export class FleetDashboard extends Construct {
  readonly dashboardName: string;
  /** Console address of the dashboard. */
  readonly dashboardUrl: string;

  constructor(scope: Construct, id: string, props: FleetDashboardProps) {
    super(scope, id);
    for (const [what, list] of [
      ["functionNames", props.functionNames],
      ["ruleNames", props.ruleNames],
      ["deadLetterQueueNames", props.deadLetterQueueNames],
    ] as const) {
      if (list.length === 0) throw new Error(`FleetDashboard "${id}": ${what} is empty; the dashboard would show an empty widget`);
    }
    const dashboard = new CloudwatchDashboard(this, "dashboard", {
      dashboardName: props.dashboardName,
      dashboardBody: JSON.stringify(fleetDashboardBody(props)),
    });
    this.dashboardName = dashboard.dashboardName;
    this.dashboardUrl = `https://${props.region}.console.aws.amazon.com/cloudwatch/home?region=${props.region}#dashboards:name=${props.dashboardName}`;
  }
}
