import { Construct } from "constructs";
import { TerraformOutput, TerraformStack, Token } from "cdktf";
import { CloudwatchLogMetricFilter } from "@cdktf/provider-aws/lib/cloudwatch-log-metric-filter";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { IotTopicRule } from "@cdktf/provider-aws/lib/iot-topic-rule";
import { LambdaFunction } from "@cdktf/provider-aws/lib/lambda-function";
import { SqsQueue } from "@cdktf/provider-aws/lib/sqs-queue";
import { FleetStack, FleetStackProps } from "./shared/fleet-stack";
import { TopicRef } from "../modules/refs";
import { FunctionAlarms, LOG_METRICS_NAMESPACE } from "../modules/alarms";
import { RuleFailureAlarm, ruleErrorLogGroups } from "../modules/rule-failure-alarm";
import { IOT_CORE_LOG_GROUP } from "./iot-stack";
import { LambdaAccountAlarms } from "../modules/lambda-account-alarms";
import { ControllerDownAlarms } from "../modules/controller-down-alarms";
import { FleetDashboard } from "../modules/fleet-dashboard";
import { ALERT_METRICS, CONTROLLER_METRICS } from "../functions/shared/fleet-metrics";
import { HOOK_ALLOW_LOG_PATTERN } from "../functions/provisioning-hook/contract";

export interface OpsStackProps extends FleetStackProps {
  /** Where alarms page (iot stack). */
  readonly alarmTopic: TopicRef;
  /** The controller instance (ec2 stack). */
  readonly controllerInstanceId: string;
  /** The stacks whose functions, topic rules and queues the dashboard and the rule alarms cover. */
  readonly watched: readonly TerraformStack[];
}

/** Offline stand-in for the controller's instance id (the real one is in the ec2 stack's state). */
export const OFFLINE_INSTANCE_ID = "i-0000000000offline";

/**
 * Operations, deployed last because it looks at everything: the fleet dashboard, the controller-down
 * alarms (the alarm topic exists only after `iot`, which deploys after `ec2`), the environment-wide
 * Lambda errors, throttles and error-log alarms, one alarm on every topic rule's failed actions, and the log metric of
 * provisioning allows. Functions, rules and queues are read from the other
 * stacks' constructs, so a new one appears on the dashboard without a second list.
 */
export class OpsStack extends FleetStack {
  readonly dashboardUrl: string;

  constructor(scope: Construct, id: string, props: OpsStackProps) {
    super(scope, id, props);
    const { config, names } = this;
    const topic = props.alarmTopic;
    const found = props.watched.flatMap((stack) => stack.node.findAll());
    const literal = (value: string | undefined, what: string): string => {
      if (value === undefined || Token.isUnresolved(value)) throw new Error(`OpsStack: ${what} has no literal name; name it from modules/naming.ts`);
      return value;
    };
    const functionNames = found.filter((c): c is LambdaFunction => c instanceof LambdaFunction).map((f) => literal(f.functionNameInput, f.node.path));
    const rules = found.filter((c): c is IotTopicRule => c instanceof IotTopicRule);
    const ruleNames = rules.map((r) => literal(r.nameInput, r.node.path));
    const queueNames = found.filter((c): c is SqsQueue => c instanceof SqsQueue).map((q) => literal(q.nameInput, q.node.path));

    // --- The controller is down: one alarm per signal (modules/controller-down-alarms.ts).
    const instanceId = this.offline ? OFFLINE_INSTANCE_ID : props.controllerInstanceId;
    new ControllerDownAlarms(this, "controller-down", {
      instanceId,
      environment: config.name,
      containerHealth: {
        namespace: CONTROLLER_METRICS.namespace,
        metricName: CONTROLLER_METRICS.containerHealthy,
        dimensionName: CONTROLLER_METRICS.environmentDimension,
      },
      heartbeatFilterPattern: CONTROLLER_METRICS.heartbeatFilterPattern,
      logGroupName: names.controllerLogGroup,
      heartbeatFilterName: names.controllerHeartbeatMetricFilter,
      statusCheckAlarmName: names.controllerStatusCheckAlarm,
      containerAlarmName: names.controllerContainerAlarm,
      heartbeatAlarmName: names.controllerHeartbeatAlarm,
      topic,
    });

    // --- Every function: three alarms for the environment instead of two per function (one account per environment).
    const errorLogFilters = found.filter((c): c is FunctionAlarms => c instanceof FunctionAlarms && c.errorLogFilter !== undefined).length;
    new LambdaAccountAlarms(this, "lambda-alarms", {
      topic,
      errorsAlarmName: names.lambdaErrorsAlarm,
      throttlesAlarmName: names.lambdaThrottlesAlarm,
      errorLogsAlarmName: names.functionErrorLogs,
      errorLogsMetricName: names.functionErrorLogs,
      errorLogFilters,
      dashboardName: names.fleetDashboard,
    });

    // --- Every topic rule's failed actions: one metric filter per error-action log group, one alarm (modules/rule-failure-alarm.ts).
    new RuleFailureAlarm(this, "rule-failures", {
      logGroupNames: ruleErrorLogGroups(
        rules,
        found.filter((c): c is CloudwatchLogGroup => c instanceof CloudwatchLogGroup),
      ),
      // IoT Core's own log too: a failure still pages when an error action cannot write.
      iotCoreLogGroupName: IOT_CORE_LOG_GROUP,
      filterName: names.ruleActionFailures,
      alarmName: names.ruleActionFailures,
      topic,
    });

    // The hook logs one decision line per request; the fleet stack counts denials, this counts allows.
    new CloudwatchLogMetricFilter(this, "provisioning-allows", {
      name: names.provisioningAllows,
      logGroupName: `/aws/lambda/${names.provisioningHookFunction}`,
      pattern: HOOK_ALLOW_LOG_PATTERN,
      metricTransformation: { name: names.provisioningAllows, namespace: LOG_METRICS_NAMESPACE, value: "1", unit: "Count" },
    });

    const alarmArn = (alarmName: string) => this.arn("cloudwatch", `alarm:${alarmName}`);
    const dashboard = new FleetDashboard(this, "fleet-dashboard", {
      dashboardName: names.fleetDashboard,
      region: config.region,
      functionNames,
      hookFunctionName: names.provisioningHookFunction,
      ruleNames,
      telemetryRuleName: names.telemetryStoreRule,
      deadLetterQueueNames: queueNames,
      provisioning: { namespace: LOG_METRICS_NAMESPACE, allowsMetric: names.provisioningAllows, denialsMetric: names.provisioningDenials },
      alerts: {
        namespace: ALERT_METRICS.namespace,
        dimension: ALERT_METRICS.dimension,
        environment: config.name,
        metrics: ALERT_METRICS.names,
      },
      controller: {
        instanceId,
        healthNamespace: CONTROLLER_METRICS.namespace,
        healthDimension: CONTROLLER_METRICS.environmentDimension,
        containerHealthyMetric: CONTROLLER_METRICS.containerHealthy,
        heartbeatNamespace: LOG_METRICS_NAMESPACE,
        heartbeatMetric: names.controllerHeartbeatMetricFilter,
        alarmArns: [names.controllerStatusCheckAlarm, names.controllerContainerAlarm, names.controllerHeartbeatAlarm].map(alarmArn),
      },
    });
    this.dashboardUrl = dashboard.dashboardUrl;

    new TerraformOutput(this, "dashboard-url", { value: dashboard.dashboardUrl, description: "CloudWatch console address of the fleet dashboard" });
    new TerraformOutput(this, "dashboard-name", {
      value: dashboard.dashboardName,
      description: "CloudWatch dashboard of the fleet (devices, provisioning, rules, alerts, functions, controller, dead letters)",
    });
  }
}
