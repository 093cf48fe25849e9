import { Construct } from "constructs";
import { TerraformOutput } from "cdktf";
import { CloudwatchEventRule } from "@cdktf/provider-aws/lib/cloudwatch-event-rule";
import { CloudwatchEventTarget } from "@cdktf/provider-aws/lib/cloudwatch-event-target";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { DataAwsIotEndpoint } from "@cdktf/provider-aws/lib/data-aws-iot-endpoint";
import { IotIndexingConfiguration } from "@cdktf/provider-aws/lib/iot-indexing-configuration";
import { IotLoggingOptions } from "@cdktf/provider-aws/lib/iot-logging-options";
import { IotThing } from "@cdktf/provider-aws/lib/iot-thing";
import { IotThingGroup } from "@cdktf/provider-aws/lib/iot-thing-group";
import { IotThingType } from "@cdktf/provider-aws/lib/iot-thing-type";
import { IotTopicRule, IotTopicRuleConfig } from "@cdktf/provider-aws/lib/iot-topic-rule";
import { FleetStack, FleetStackProps } from "./shared/fleet-stack";
import { FunctionRef, TableRef, TopicRef } from "../modules/refs";
import { IotServiceRoles } from "./shared/refs";
import { AsyncFailureDestination } from "../modules/async-failure-destination";
import { BundledFunction } from "../modules/bundled-function";
import { ContractFunction } from "../modules/contract-function";
import { CsrIdentity } from "./shared/csr-identity";
import { identityLocations, loadIdentityCsr } from "./shared/identity";
import { AlertTopic } from "../modules/alert-topic";
import { AlertForwarder } from "../modules/alert-forwarder";
import { IotPolicy, controllerPolicyStatements, devicePolicyStatements } from "../modules/iot-policy";
import { FleetTable } from "../modules/fleet-table";
import { CertificateRevoker } from "../modules/certificate-revoker";
import { ALERT_FORWARDER, channelsSetting } from "../functions/alert-forwarder/contract";
import { ALERT_HANDLER } from "../functions/alert-handler/contract";
import { DEVICE_ERROR_FIELDS, DEVICE_RESPONSE_FIELDS, deviceMessageSql } from "../functions/shared/device-messages";
import { HEALTH_CHECK } from "../functions/health-check/contract";
import { OFFLINE_DETECTOR } from "../functions/offline-detector/contract";
import { REVOCATION_STREAM_FILTERS, REVOKE_CERTIFICATES } from "../functions/revoke-certificates/contract";

export interface IotStackProps extends FleetStackProps {
  /** Roles AWS IoT assumes, from the `roles` stack. */
  readonly iotServiceRoles: IotServiceRoles;
}

/** Where AWS IoT Core's own (v2) logs go; the name is AWS's. */
export const IOT_CORE_LOG_GROUP = "AWSIotLogsV2";

/** Offline stand-in for the account's `iot:Data-ATS` endpoint (the real one needs an API call). */
export const OFFLINE_IOT_ENDPOINT_PREFIX = "a1b2c3d4e5f6g7-ats.iot";

/**
 * AWS IoT Core for the fleet and its controller: policies, thing types and groups, the controller's
 * identity (certificate from a committed CSR; its key only in Secrets Manager), topic rules for
 * errors, responses and lifecycle events, the alerting path (SNS, dedupe table, functions,
 * schedules), fleet indexing and IoT logging.
 *
 * The device registry table lives here, not in `fleet`: the offline detector (lifecycle rule and
 * 5-minute sweep) and the daily health check are IoT concerns and read and write the registry, and
 * `iot` deploys before `fleet`. Keeping the table in the first stack that needs it avoids a
 * dependency cycle and avoids moving the functions away from the rules and schedules that invoke
 * them; `fleet` (provisioning hook) and `api` (registration) receive it as a TableRef.
 */
export class IotStack extends FleetStack {
  /** Device registry, partition key `serialNumber` (docs/contracts.md). */
  readonly registryTable: TableRef;
  /** Device alerts (e-mail), encrypted with `alias/aws/sns`; functions publish to it. */
  readonly alertTopic: TopicRef;
  /** CloudWatch alarm notifications (e-mail), on a customer-managed key CloudWatch may use. */
  readonly alarmTopic: TopicRef;
  /** Name of the IoT policy every provisioned device's certificate gets. */
  readonly devicePolicyName: string;
  /** The account's `iot:Data-ATS` endpoint host name. */
  readonly iotDataEndpoint: string;
  /** The alert handler, for other stacks' rules (e.g. telemetry thresholds) that raise device alerts. */
  readonly alertHandler: FunctionRef;

  constructor(scope: Construct, id: string, props: IotStackProps) {
    super(scope, id, props);
    const { config, names } = this;
    const roles = props.iotServiceRoles;
    const iotArn = (resource: string) => this.arn("iot", resource);

    // --- State: device registry and alert dedupe.
    // Its stream drives the certificate revoker (below).
    const registry = new FleetTable(this, "registry-table", { tableName: names.registryTable, partitionKey: "serialNumber", stream: true });
    const alertState = new FleetTable(this, "alert-state-table", {
      tableName: names.alertStateTable,
      partitionKey: "alertKey",
      ttlAttribute: "expiresAt",
      // Only cooldown markers that expire within minutes: nothing to protect from deletion.
      deletionProtection: false,
    });

    // --- Who hears about problems.
    const alerts = new AlertTopic(this, "alert-topic", { topicName: names.alertTopic, emailAddresses: config.alertEmails });
    const alarms = new AlertTopic(this, "alarm-topic", {
      topicName: names.alarmTopic,
      emailAddresses: config.alertEmails,
      cloudWatchAlarms: { accountId: config.accountId, keyAlias: names.alarmTopicKeyAlias },
    });

    // --- Device identity: policy, thing types and groups per device type.
    const devicePolicy = new IotPolicy(this, "device-policy", {
      policyName: names.devicePolicy,
      statements: devicePolicyStatements(iotArn, names.rotationTemplate, names.telemetryStoreRule),
    });
    for (const deviceType of config.deviceTypes) {
      const scope = new Construct(this, `device-type-${deviceType}`);
      new IotThingType(scope, "thing-type", {
        name: names.deviceTypeThing(deviceType),
        properties: { description: `Raspberry Pi ${deviceType} (${config.name})` },
      });
      new IotThingGroup(scope, "thing-group", {
        name: names.deviceTypeThing(deviceType),
        properties: { description: `All ${deviceType} devices (${config.name})` },
      });
    }

    // --- The controller: its own thing and policy, and a certificate from the committed CSR. Its key is
    // only in Secrets Manager (written by `npm run identity`); the public parts are published in SSM for
    // the instance's boot script (docs/contracts.md).
    const endpoint = this.offline
      ? `${OFFLINE_IOT_ENDPOINT_PREFIX}.${config.region}.amazonaws.com`
      : new DataAwsIotEndpoint(this, "data-endpoint", { endpointType: "iot:Data-ATS" }).endpointAddress;
    const controllerThing = new IotThing(this, "controller-thing", { name: names.controllerThing });
    const controllerPolicy = new IotPolicy(this, "controller-policy", {
      policyName: names.controllerPolicy,
      statements: controllerPolicyStatements(iotArn, names.controllerThing),
    });
    const controller = new CsrIdentity(this, "controller", {
      kind: "controller",
      csrPem: loadIdentityCsr({ envName: config.name, kind: "controller", offline: this.offline, root: props.identityRoot }).pem,
      locations: identityLocations(names, "controller"),
      endpoint,
      published: { thingName: controllerThing.name },
      adoptExistingSecret: !this.offline,
    });
    controller.attachToThing(controllerThing.name);
    controller.attachPolicy(controllerPolicy.policyName);

    // --- Functions behind the rules and schedules: settings from each contract (functions/<name>/contract.ts),
    // timing settings at their contract defaults; exactly the table actions each handler uses.
    const settings = { environment: config.name };
    const alertHandler = new ContractFunction(this, "alert-handler", {
      contract: ALERT_HANDLER,
      functionName: names.alertHandlerFunction,
      description: "Device errors (IoT rule) to deduplicated e-mail alerts",
      logRetentionDays: config.logRetentionDays,
      settings: { ...settings, budgetPerDevice: config.alerts.budget.alertsPerDevice, budgetWindowSeconds: config.alerts.budget.windowMinutes * 60 },
      tables: { alertStateTableName: { table: alertState, actions: ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"] } },
      topics: { alertTopicArn: alerts },
    });

    const offlineDetector = new ContractFunction(this, "offline-detector", {
      contract: OFFLINE_DETECTOR,
      functionName: names.offlineDetectorFunction,
      description: "Lifecycle events to registry connectivity; 5-minute sweep alerts on devices offline past the grace period",
      logRetentionDays: config.logRetentionDays,
      settings,
      tables: { registryTableName: { table: registry, actions: ["dynamodb:UpdateItem", "dynamodb:Scan"] } },
      topics: { alertTopicArn: alerts },
    });

    const healthCheck = new ContractFunction(this, "health-check", {
      contract: HEALTH_CHECK,
      functionName: names.healthCheckFunction,
      description: "Daily fleet health summary by e-mail",
      logRetentionDays: config.logRetentionDays,
      settings,
      tables: { registryTableName: { table: registry, actions: ["dynamodb:Scan"] } },
      topics: { alertTopicArn: alerts },
    });

    // Slack and webhook channels: every message of the alert topic, through its own function and dead letters.
    if (config.alerts.channels.length > 0) {
      const channels = config.alerts.channels.map((c) => ({ ...c, secretId: names.alertChannelSecret(c.name) }));
      new AlertForwarder(this, "alert-forwarder", {
        contract: ALERT_FORWARDER,
        channelsSetting: channelsSetting(channels),
        alertTopic: alerts,
        channels: config.alerts.channels,
        alertState,
        names,
        environment: config.name,
        accountId: config.accountId,
        logRetentionDays: config.logRetentionDays,
        alarmTopic: alarms,
      });
    }

    // Rules and schedules invoke these asynchronously: what fails after Lambda's retries is kept, in one
    // queue for the stack (each record names its function; `npm run redrive` sends it back there).
    new AsyncFailureDestination(this, "async-failures", {
      functions: [alertHandler, offlineDetector, healthCheck],
      queueName: names.stackAsyncFailureQueue("iot"),
      alarmName: names.stackAsyncFailureQueue("iot"),
      topic: alarms,
    });

    new CertificateRevoker(this, "certificate-revoker", {
      contract: REVOKE_CERTIFICATES,
      filterPatterns: REVOCATION_STREAM_FILTERS,
      registry,
      functionName: names.revokeCertificatesFunction,
      deadLetterQueueName: names.revokeCertificatesDeadLetterQueue,
      deadLetterAlarmName: names.revokeCertificatesDeadLetterAlarm,
      environment: config.name,
      namePrefix: config.namePrefix,
      logRetentionDays: config.logRetentionDays,
      iotArn,
      alarmTopic: alarms,
      errorLogsMetricName: names.functionErrorLogs,
    });

    // --- Topic rules. Each rule's errors (a failed action) go to one log group.
    const responsesLog = new CloudwatchLogGroup(this, "responses-log-group", { name: names.responsesLogGroup, retentionInDays: config.logRetentionDays });
    const ruleErrorsLog = new CloudwatchLogGroup(this, "rule-errors-log-group", { name: names.ruleErrorsLogGroup, retentionInDays: config.logRetentionDays });
    const errorAction: IotTopicRuleConfig["errorAction"] = { cloudwatchLogs: { logGroupName: ruleErrorsLog.name, roleArn: roles.ruleAction.roleArn } };
    const rule = (ruleId: string, name: string, description: string, sql: string, actions: Partial<IotTopicRuleConfig>, invokes?: BundledFunction) => {
      // The permission names the rule by its ARN (known from its name), so it exists before the rule.
      const permission = invokes?.allowInvoke(`iot-rule-${ruleId}`, {
        principal: "iot.amazonaws.com",
        sourceArn: iotArn(`rule/${name}`),
        sourceAccount: config.accountId,
      });
      return new IotTopicRule(this, ruleId, {
        name,
        description,
        enabled: true,
        sql,
        sqlVersion: "2016-03-23",
        errorAction,
        ...actions,
        dependsOn: permission ? [permission] : undefined,
      });
    };
    rule(
      "device-errors-rule",
      names.errorsRule,
      "Device errors to the alert handler",
      deviceMessageSql(DEVICE_ERROR_FIELDS, "devices/+/errors"),
      { lambda: [{ functionArn: alertHandler.functionArn }] },
      alertHandler,
    );
    rule("device-responses-rule", names.responsesRule, "Device responses to CloudWatch Logs", deviceMessageSql(DEVICE_RESPONSE_FIELDS, "devices/+/responses"), {
      cloudwatchLogs: [{ logGroupName: responsesLog.name, roleArn: roles.ruleAction.roleArn }],
    });
    rule(
      "lifecycle-events-rule",
      names.lifecycleRule,
      "Connect and disconnect events to the offline detector",
      "SELECT * FROM '$aws/events/presence/+/+'",
      { lambda: [{ functionArn: offlineDetector.functionArn }] },
      offlineDetector,
    );

    // --- Schedules (EventBridge rules on the default bus; each function allows exactly its rule).
    this.schedule("offline-sweep-schedule", names.offlineSweepSchedule, "rate(5 minutes)", "Sweep for devices offline past the grace period", offlineDetector);
    this.schedule("health-check-schedule", names.healthCheckSchedule, "cron(0 7 * * ? *)", "Daily fleet health summary at 07:00 UTC", healthCheck);

    // --- Account-level IoT settings: connectivity and shadows in the fleet index, and IoT Core's own logs.
    // The firmware version is a custom field so `npm run ota -- status` can aggregate it (GetBucketsAggregation).
    new IotIndexingConfiguration(this, "fleet-indexing", {
      thingIndexingConfiguration: {
        thingIndexingMode: "REGISTRY_AND_SHADOW",
        thingConnectivityIndexingMode: "STATUS",
        customField: [{ name: "shadow.reported.firmwareVersion", type: "String" }],
      },
    });
    // IoT Core writes to this group (one per region) and would create it without retention.
    const iotCoreLog = new CloudwatchLogGroup(this, "iot-core-log-group", { name: IOT_CORE_LOG_GROUP, retentionInDays: config.logRetentionDays });
    new IotLoggingOptions(this, "iot-logging", {
      defaultLogLevel: "WARN",
      roleArn: roles.logging.roleArn,
      disableAllLogs: false,
      dependsOn: [iotCoreLog],
    });

    // --- What later stacks use (placeholders offline, so each stack plans on its own).
    this.registryTable = this.share<TableRef>(
      { tableName: registry.tableName, tableArn: registry.tableArn },
      { tableName: names.registryTable, tableArn: this.arn("dynamodb", `table/${names.registryTable}`) },
    );
    this.alertHandler = this.share<FunctionRef>(
      { functionName: alertHandler.functionName, functionArn: alertHandler.functionArn },
      { functionName: names.alertHandlerFunction, functionArn: this.arn("lambda", `function:${names.alertHandlerFunction}`) },
    );
    this.alertTopic = this.share<TopicRef>(
      { topicName: alerts.topicName, topicArn: alerts.topicArn },
      { topicName: names.alertTopic, topicArn: this.arn("sns", names.alertTopic) },
    );
    this.alarmTopic = this.share<TopicRef>(
      { topicName: alarms.topicName, topicArn: alarms.topicArn },
      { topicName: names.alarmTopic, topicArn: this.arn("sns", names.alarmTopic) },
    );
    this.devicePolicyName = this.share(devicePolicy.policyName, names.devicePolicy);
    this.iotDataEndpoint = this.share(endpoint, `${OFFLINE_IOT_ENDPOINT_PREFIX}.${config.region}.amazonaws.com`);

    new TerraformOutput(this, "iot-data-endpoint", { value: endpoint, description: "MQTT endpoint (iot:Data-ATS) devices and the controller connect to" });
    new TerraformOutput(this, "controller-secret-arn", {
      value: controller.secretArn,
      description: "Secrets Manager secret with the controller's private key only (written by npm run identity, never by Terraform)",
    });
    new TerraformOutput(this, "controller-certificate-id", {
      value: controller.certificateId,
      description: "Controller certificate id (from identity/<env>/controller.csr.pem)",
    });
    new TerraformOutput(this, "controller-identity-parameter", {
      value: controller.parameterName,
      description: "SSM String parameter with the controller's certificate PEM and id, IoT endpoint and thing name",
    });
    new TerraformOutput(this, "registry-table-name", { value: registry.tableName, description: "DynamoDB device registry (partition key serialNumber)" });
    new TerraformOutput(this, "alert-topic-arn", { value: alerts.topicArn, description: "SNS topic for device alerts (confirm the e-mail subscriptions)" });
    new TerraformOutput(this, "alarm-topic-arn", { value: alarms.topicArn, description: "SNS topic for CloudWatch alarms (confirm the e-mail subscriptions)" });
  }

  private schedule(id: string, name: string, expression: string, description: string, fn: BundledFunction): void {
    const rule = new CloudwatchEventRule(this, id, { name, description, scheduleExpression: expression });
    const permission = fn.allowInvoke(id, { principal: "events.amazonaws.com", sourceArn: rule.arn, sourceAccount: this.config.accountId });
    new CloudwatchEventTarget(this, `${id}-target`, { rule: rule.name, targetId: fn.node.id, arn: fn.functionArn, dependsOn: [permission] });
  }
}
