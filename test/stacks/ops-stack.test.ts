/**
 * The ops stack, synthesized with the whole app (offline, as CI plans it): the fleet dashboard's widgets
 * reference only resources the other stacks synthesize (and cover all of them), the controller-down
 * alarms page on missing data, and one alarm counts every topic rule's failed actions.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../config";
import { resourceNames } from "../../stacks/shared/naming";
import { LOG_METRICS_NAMESPACE } from "../../modules/alarms";
import { ALERT_METRICS, CONTROLLER_METRICS } from "../../functions/shared/fleet-metrics";
import { LAMBDA_WIDGETS, fleetDashboardBody } from "../../modules/fleet-dashboard";
import { OFFLINE_INSTANCE_ID } from "../../stacks/ops-stack";
import { RULE_ERROR_PATTERN, RULE_EXECUTION_FAILURE_PATTERN, RULE_FAILURE_METRIC } from "../../modules/rule-failure-alarm";
import { IOT_CORE_LOG_GROUP } from "../../stacks/iot-stack";
import { synthOfflineApp } from "../support/offline-app";

type Body = Record<string, any>;
interface StackJson {
  resource?: Record<string, Record<string, Body>>;
  data?: Record<string, Record<string, Body>>;
  output?: Record<string, { value: unknown; description?: string }>;
}

const config = loadConfig("dev");
const names = resourceNames(config);
const { outdir, stacks } = synthOfflineApp("dev");
const tf: Record<string, StackJson> = Object.fromEntries(stacks.map((id) => [id, JSON.parse(readFileSync(join(outdir, "stacks", id, "cdk.tf.json"), "utf8"))]));
const ops = tf.ops!;
const everywhere = (type: string): Body[] =>
  Object.entries(tf).flatMap(([stack, s]) => Object.entries(s.resource?.[type] ?? {}).map(([id, r]) => ({ stack, id, ...r })));
const others = (type: string) => everywhere(type).filter((r) => r.stack !== "ops");

const functions = new Set(others("aws_lambda_function").map((f) => f.function_name as string));
const rules = new Set(others("aws_iot_topic_rule").map((r) => r.name as string));
const queues = new Set(others("aws_sqs_queue").map((q) => q.name as string));
const alarms = new Set(everywhere("aws_cloudwatch_metric_alarm").map((a) => a.alarm_name as string));
const logMetrics = new Set(everywhere("aws_cloudwatch_log_metric_filter").map((f) => `${f.metric_transformation.namespace}/${f.metric_transformation.name}`));

const dashboard = Object.values(ops.resource!.aws_cloudwatch_dashboard!)[0]!;
const widgets = JSON.parse(dashboard.dashboard_body).widgets as Body[];
/** Every metric line of every metric widget: [namespace, name, ...dimension pairs, options?]. */
const lines = widgets.filter((w) => w.type === "metric").flatMap((w) => w.properties.metrics as (string | Body)[][]);
const dimensionsOf = (line: (string | Body)[]) => {
  const strings = line.filter((x): x is string => typeof x === "string").slice(2);
  return Object.fromEntries(Array.from({ length: strings.length / 2 }, (_, i) => [strings[2 * i], strings[2 * i + 1]]));
};

test("GIVEN the app THEN ops is deployed last", () => {
  expect(stacks.at(-1)).toBe("ops");
});

test("GIVEN the dashboard THEN it is named from modules/naming.ts and the stack outputs its console address", () => {
  expect(dashboard.dashboard_name).toBe(names.fleetDashboard);
  expect(ops.output!["dashboard-url"]).toEqual({
    value: `https://${config.region}.console.aws.amazon.com/cloudwatch/home?region=${config.region}#dashboards:name=${names.fleetDashboard}`,
    description: expect.any(String),
  });
});

test("GIVEN every widget THEN its FunctionName, RuleName and QueueName dimensions name resources the other stacks synthesize", () => {
  const unknown = lines.flatMap((line) => {
    const d = dimensionsOf(line);
    return [
      d.FunctionName !== undefined && !functions.has(d.FunctionName) ? `function ${d.FunctionName}` : [],
      d.RuleName !== undefined && !rules.has(d.RuleName) ? `rule ${d.RuleName}` : [],
      d.QueueName !== undefined && !queues.has(d.QueueName) ? `queue ${d.QueueName}` : [],
      d.InstanceId !== undefined && d.InstanceId !== OFFLINE_INSTANCE_ID ? `instance ${d.InstanceId}` : [],
    ].flat();
  });
  expect(lines.length).toBeGreaterThan(20);
  expect(unknown).toEqual([]);
});

test("GIVEN the widgets' own metrics THEN each log metric is a synthesized metric filter, and the alert and controller metrics use the shared names", () => {
  const namespaces = new Set(lines.map((l) => l[0] as string));
  expect([...namespaces].sort()).toEqual(
    ["AWS/EC2", "AWS/IoT", "AWS/Lambda", "AWS/SQS", ALERT_METRICS.namespace, CONTROLLER_METRICS.namespace, LOG_METRICS_NAMESPACE].sort(),
  );
  const own = lines.filter((l) => l[0] === LOG_METRICS_NAMESPACE).map((l) => `${l[0]}/${l[1]}`);
  expect(own.sort()).toEqual(
    [names.provisioningAllows, names.provisioningDenials, names.controllerHeartbeatMetricFilter].map((m) => `${LOG_METRICS_NAMESPACE}/${m}`).sort(),
  );
  for (const metric of own) expect(logMetrics).toContain(metric);
  const alertLines = lines.filter((l) => l[0] === ALERT_METRICS.namespace);
  expect(alertLines.map((l) => [l[1], dimensionsOf(l)])).toEqual([
    ...Object.values(ALERT_METRICS.names).map((name) => [name, { [ALERT_METRICS.dimension]: config.name }]),
  ]);
});

test("GIVEN the app's functions, rules and queues THEN the dashboard shows every one of them", () => {
  const shown = (key: string) => new Set(lines.map((l) => dimensionsOf(l)[key]).filter(Boolean));
  expect([...functions].filter((f) => !shown("FunctionName").has(f))).toEqual([]);
  expect([...rules].filter((r) => !shown("RuleName").has(r))).toEqual([]);
  expect([...queues].filter((q) => !shown("QueueName").has(q))).toEqual([]);
  expect(queues.size).toBeGreaterThanOrEqual(3);
});

test("GIVEN the alarm widget THEN it lists the three controller-down alarms, which exist", () => {
  const alarmWidget = widgets.find((w) => w.type === "alarm")!;
  const listed = (alarmWidget.properties.alarms as string[]).map((arn) => arn.slice(arn.lastIndexOf(":") + 1));
  expect(listed).toEqual([names.controllerStatusCheckAlarm, names.controllerContainerAlarm, names.controllerHeartbeatAlarm]);
  for (const name of listed) expect(alarms).toContain(name);
});

test("GIVEN the hook latency widget THEN it charts the hook's p99 duration", () => {
  const latency = widgets.find((w) => /latency p99/.test(w.properties?.title ?? ""))!;
  expect(latency.properties).toMatchObject({
    stat: "p99",
    metrics: [["AWS/Lambda", "Duration", "FunctionName", names.provisioningHookFunction, expect.any(Object)]],
  });
});

describe("controller-down alarms", () => {
  const byName = (name: string) => Object.values(ops.resource!.aws_cloudwatch_metric_alarm!).find((a) => a.alarm_name === name)!;

  test.each([
    [names.controllerStatusCheckAlarm, "AWS/EC2", "StatusCheckFailed", "GreaterThanOrEqualToThreshold"],
    [names.controllerContainerAlarm, CONTROLLER_METRICS.namespace, CONTROLLER_METRICS.containerHealthy, "LessThanThreshold"],
    [names.controllerHeartbeatAlarm, LOG_METRICS_NAMESPACE, names.controllerHeartbeatMetricFilter, "LessThanThreshold"],
  ])("%s pages the alarm topic on %s/%s and treats missing data as breaching (a dead instance sends nothing)", (name, namespace, metric, operator) => {
    expect(byName(name)).toMatchObject({
      namespace,
      metric_name: metric,
      comparison_operator: operator,
      treat_missing_data: "breaching",
      alarm_actions: [`arn:aws:sns:${config.region}:${config.accountId}:${names.alarmTopic}`],
    });
  });

  test("the heartbeat is counted from the controller container's log group", () => {
    const filter = Object.values(ops.resource!.aws_cloudwatch_log_metric_filter!).find((f) => f.name === names.controllerHeartbeatMetricFilter)!;
    expect(filter).toMatchObject({ log_group_name: names.controllerLogGroup, pattern: CONTROLLER_METRICS.heartbeatFilterPattern });
    expect(everywhere("aws_cloudwatch_log_group").map((g) => g.name)).toContain(names.controllerLogGroup);
  });

  test("the instance role may publish the container-health metric only in the controller's namespace", () => {
    const statements = Object.values(tf.roles!.data!.aws_iam_policy_document!).flatMap((d) => d.statement as Body[]);
    const put = statements.filter((s) => (s.actions as string[]).includes("cloudwatch:PutMetricData"));
    expect(put).toEqual([
      expect.objectContaining({
        resources: ["*"],
        condition: [{ test: "StringEquals", variable: "cloudwatch:namespace", values: [CONTROLLER_METRICS.namespace] }],
      }),
    ]);
  });

  test("the instance's user data runs the health agent every minute with the shared metric names", () => {
    const template = Object.values(tf.ec2!.resource!.aws_launch_template!)[0]!;
    const userData = Buffer.from(String(template.user_data).replace(/^\$\{base64encode\("|"\)\}$/g, ""), "utf8").toString();
    expect(userData).toContain("controller-health.timer");
    expect(userData).toContain(`METRIC_NAMESPACE=${CONTROLLER_METRICS.namespace}`);
    expect(userData).toContain(`METRIC_NAME=${CONTROLLER_METRICS.containerHealthy}`);
  });
});

describe("Lambda alarms for the whole environment", () => {
  const lambdaAlarms = everywhere("aws_cloudwatch_metric_alarm").filter((a) => a.namespace === "AWS/Lambda");
  const topicArn = `arn:aws:sns:${config.region}:${config.accountId}:${names.alarmTopic}`;

  test("GIVEN the app THEN Errors and Throttles page once each from the ops stack, without dimensions, and only the hook keeps a Duration alarm", () => {
    expect(lambdaAlarms.filter((a) => a.metric_name !== "Duration").map((a) => [a.stack, a.alarm_name, a.metric_name, a.dimensions])).toEqual([
      ["ops", names.lambdaErrorsAlarm, "Errors", undefined],
      ["ops", names.lambdaThrottlesAlarm, "Throttles", undefined],
    ]);
    expect(lambdaAlarms.filter((a) => a.metric_name === "Duration").map((a) => [a.stack, a.threshold])).toEqual([["fleet", 4000]]);
  });

  test("GIVEN the error-log filters of every stack THEN they publish one shared metric, and one alarm in ops watches it", () => {
    const filters = everywhere("aws_cloudwatch_log_metric_filter").filter((f) => f.pattern === '{ $.level = "error" }');
    expect(filters.map((f) => f.stack).sort()).toEqual(["fleet", "iot"]);
    for (const f of filters) expect(f.metric_transformation).toMatchObject({ name: names.functionErrorLogs, namespace: LOG_METRICS_NAMESPACE });
    const watching = everywhere("aws_cloudwatch_metric_alarm").filter((a) => a.metric_name === names.functionErrorLogs);
    expect(watching).toEqual([expect.objectContaining({ stack: "ops", alarm_name: names.functionErrorLogs, namespace: LOG_METRICS_NAMESPACE })]);
    expect(watching[0].alarm_description).toContain(`${filters.length} CloudWatch Logs metric filters`);
  });

  test("GIVEN the three THEN ALARM and OK go to the alarm topic and quiet periods are healthy", () => {
    const names3 = [names.lambdaErrorsAlarm, names.lambdaThrottlesAlarm, names.functionErrorLogs];
    const three = Object.values(ops.resource!.aws_cloudwatch_metric_alarm!).filter((a) => names3.includes(a.alarm_name));
    expect(three).toHaveLength(3);
    for (const a of three) expect(a).toMatchObject({ alarm_actions: [topicArn], ok_actions: [topicArn], treat_missing_data: "notBreaching" });
  });

  test("GIVEN the errors alarm THEN its description points to the dashboard's per-function errors widget, which charts every function", () => {
    const errors = lambdaAlarms.find((a) => a.alarm_name === names.lambdaErrorsAlarm)!;
    expect(errors.alarm_description).toContain(`"${LAMBDA_WIDGETS.errors}" widget of dashboard ${names.fleetDashboard}`);
    const widget = widgets.find((w) => w.properties?.title === LAMBDA_WIDGETS.errors)!;
    expect(new Set((widget.properties.metrics as string[][]).map((l) => l[3]))).toEqual(functions);
  });
});

describe("one alarm for every topic rule's failed actions", () => {
  const ruleResources = others("aws_iot_topic_rule");
  const groupsByStack = new Map(others("aws_cloudwatch_log_group").map((g) => [`${g.stack} \${aws_cloudwatch_log_group.${g.id}.name}`, g.name as string]));
  const allFilters = everywhere("aws_cloudwatch_log_metric_filter").filter((f) => f.metric_transformation.namespace === RULE_FAILURE_METRIC.namespace);
  const filters = allFilters.filter((f) => f.log_group_name !== IOT_CORE_LOG_GROUP);
  const topicArn = `arn:aws:sns:${config.region}:${config.accountId}:${names.alarmTopic}`;

  test("GIVEN every topic rule THEN its error action writes to a log group that a filter counts into the one rule-failure metric", () => {
    const errorGroups = ruleResources.map((r) => {
      const target = r.error_action?.cloudwatch_logs?.log_group_name as string | undefined;
      return [r.name, target?.startsWith("${") ? groupsByStack.get(`${r.stack} ${target}`) : target];
    });
    expect(errorGroups.filter(([, group]) => group === undefined)).toEqual([]);
    const counted = new Set(filters.map((f) => f.log_group_name));
    expect(errorGroups.filter(([, group]) => !counted.has(group))).toEqual([]);
    expect(filters.map((f) => f.log_group_name).sort()).toEqual([names.ruleErrorsLogGroup, names.telemetryRuleErrorsLogGroup].sort());
    for (const f of filters) {
      expect(f).toMatchObject({ stack: "ops", pattern: RULE_ERROR_PATTERN, name: names.ruleActionFailures });
      expect(f.metric_transformation).toEqual({ name: RULE_FAILURE_METRIC.name, namespace: RULE_FAILURE_METRIC.namespace, value: "1", unit: "Count" });
    }
  });

  test("GIVEN IoT Core's own log THEN its failed RuleExecution entries count too (a failure pages even when an error action cannot write)", () => {
    expect(allFilters.filter((f) => f.log_group_name === IOT_CORE_LOG_GROUP)).toEqual([
      expect.objectContaining({ stack: "ops", pattern: RULE_EXECUTION_FAILURE_PATTERN, name: names.ruleActionFailures }),
    ]);
  });

  test("GIVEN the metric THEN one alarm in ops pages on the first failure, and it names the log groups to read", () => {
    const watching = everywhere("aws_cloudwatch_metric_alarm").filter((a) => a.metric_name === RULE_FAILURE_METRIC.name);
    expect(watching).toEqual([
      expect.objectContaining({
        stack: "ops",
        alarm_name: names.ruleActionFailures,
        namespace: RULE_FAILURE_METRIC.namespace,
        statistic: "Sum",
        threshold: 1,
        comparison_operator: "GreaterThanOrEqualToThreshold",
        treat_missing_data: "notBreaching",
        alarm_actions: [topicArn],
        ok_actions: [topicArn],
      }),
    ]);
    expect(watching[0].dimensions).toBeUndefined();
    for (const group of [names.ruleErrorsLogGroup, names.telemetryRuleErrorsLogGroup]) expect(watching[0].alarm_description).toContain(group);
  });

  test("GIVEN the app THEN no per-rule AWS/IoT Failure alarm is left (each was billed as its own alarm metric)", () => {
    expect(everywhere("aws_cloudwatch_metric_alarm").filter((a) => a.namespace === "AWS/IoT")).toEqual([]);
  });
});

describe("fleetDashboardBody", () => {
  test("places widgets on a 24-column grid without overlap", () => {
    const cells = new Set<string>();
    for (const w of widgets) {
      expect(w.x + w.width).toBeLessThanOrEqual(24);
      for (let x = w.x; x < w.x + w.width; x++)
        for (let y = w.y; y < w.y + w.height; y++) {
          expect(cells.has(`${x},${y}`)).toBe(false);
          cells.add(`${x},${y}`);
        }
    }
  });

  test("is deterministic for the same inputs", () => {
    expect(JSON.stringify(fleetDashboardBody({ ...sample }))).toBe(JSON.stringify(fleetDashboardBody({ ...sample })));
  });
});

const sample = {
  dashboardName: "d",
  region: "eu-west-1",
  functionNames: ["f"],
  hookFunctionName: "f",
  ruleNames: ["r"],
  telemetryRuleName: "r",
  deadLetterQueueNames: ["q"],
  provisioning: { namespace: "n", allowsMetric: "a", denialsMetric: "d" },
  alerts: { namespace: "n", dimension: "Environment", environment: "dev", metrics: { sent: "s", suppressed: "u" } },
  controller: {
    instanceId: "i",
    healthNamespace: "h",
    healthDimension: "Environment",
    containerHealthyMetric: "c",
    heartbeatNamespace: "n",
    heartbeatMetric: "b",
    alarmArns: ["a"],
  },
};
