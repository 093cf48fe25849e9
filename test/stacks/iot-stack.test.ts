import { Testing } from "cdktf";
import { loadConfig } from "../../config";
import { THING_NAME } from "../../modules/iot-policy";
import { IotStack } from "../../stacks/iot-stack";
import { policyStatements, resourcesOf, synthStack, SynthesizedStack } from "../support/synth";
import { iotServiceRoles, wildcardActions } from "./fleet-refs";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { identityCsrFile, PLACEHOLDER_CSR_FILE, REPOSITORY_ROOT } from "../../stacks/shared/identity";
import { identityRootWithCsrs } from "../support/identity-csrs";
import { tmpdir } from "node:os";

const identityRoot = identityRootWithCsrs(["dev"]);
const synth = (offline = false, root = identityRoot) =>
  synthStack((app, props) => new IotStack(app, "iot", { ...props, iotServiceRoles }), { offline, identityRoot: root });
const stack = synth();
const base = loadConfig("dev");
/** The dev stack with a Slack channel (channels are opt-in: config/shared.ts has none). */
const withChannels = synthStack((app, props) => new IotStack(app, "iot", { ...props, iotServiceRoles }), {
  identityRoot,
  config: { ...base, alerts: { ...base.alerts, channels: [{ kind: "slack", name: "ops" }] } },
});

type Statement = {
  actions: string[];
  resources: string[];
  condition?: { test: string; variable: string; values: string[] }[];
  principals?: { type: string; identifiers: string[] }[];
};

/** Statements of the policy document(s) whose construct path starts with `prefix`. */
function documentStatements(s: SynthesizedStack, prefix: string): Statement[] {
  const docs = Object.entries(s.tf.data?.aws_iam_policy_document ?? {}).filter(([name]) => name.startsWith(prefix));
  expect(docs.length).toBeGreaterThan(0);
  return docs.flatMap(([, doc]) => doc.statement as Statement[]);
}

const values = <T = Record<string, any>>(type: string, s: SynthesizedStack = stack) => Object.values(resourcesOf(s, type)) as T[];
const byName = (type: string, name: string, s: SynthesizedStack = stack) => values(type, s).find((r) => r.name === name || r.function_name === name);

describe("IotStack", () => {
  describe("device policy", () => {
    test("scopes every resource to the connected thing's own name, except the rotation topics (AWS names them without a thing)", () => {
      const resources = documentStatements(stack, "device-policy").flatMap((s) => s.resources);
      const rotation = resources.filter((r) =>
        /:topic(filter)?\/\$aws\/(certificates\/create-from-csr|provisioning-templates\/shf-dev-pi-rotation\/provision)\/json(\/accepted|\/rejected)?$/.test(r),
      );
      expect(rotation).toHaveLength(10); // 2 publish, 4 subscribe, 4 receive
      expect(resources.length).toBeGreaterThan(rotation.length);
      for (const resource of resources.filter((r) => !rotation.includes(r))) expect(resource).toContain(THING_NAME);
    });

    test("names IoT actions only, never iot:*", () => {
      const statements = documentStatements(stack, "device-policy");
      expect(wildcardActions(statements)).toEqual([]);
      expect(new Set(statements.flatMap((s) => s.actions))).toEqual(new Set(["iot:Connect", "iot:Publish", "iot:Subscribe", "iot:Receive"]));
    });

    test("lets a device connect only with its own thing name as client id and its certificate attached to that thing", () => {
      const connect = documentStatements(stack, "device-policy").find((s) => s.actions.includes("iot:Connect"))!;
      expect(connect.resources).toEqual([`arn:aws:iot:eu-west-1:111111111111:client/${THING_NAME}`]);
      expect(connect.condition).toEqual([{ test: "Bool", variable: "iot:Connection.Thing.IsAttached", values: ["true"] }]);
    });

    test("lets a device publish responses, errors and telemetry, and receive only its commands", () => {
      const statements = documentStatements(stack, "device-policy");
      const publish = statements.find((s) => s.actions.includes("iot:Publish"))!.resources;
      const receive = statements.find((s) => s.actions.includes("iot:Receive"))!.resources;
      for (const topic of ["responses", "errors", "telemetry"])
        expect(publish).toContain(`arn:aws:iot:eu-west-1:111111111111:topic/devices/${THING_NAME}/${topic}`);
      expect(publish.some((r) => r.endsWith("/commands"))).toBe(false);
      expect(receive).toContain(`arn:aws:iot:eu-west-1:111111111111:topic/devices/${THING_NAME}/commands`);
      expect(receive.filter((r) => r.includes("topic/devices/"))).toHaveLength(1);
    });

    test("is created under the device policy name the provisioning template attaches", () => {
      expect(byName("aws_iot_policy", "shf-dev-device")).toBeDefined();
    });
  });

  describe("controller", () => {
    test("controller policy publishes commands to any device and reads responses, errors and telemetry only", () => {
      const statements = documentStatements(stack, "controller-policy");
      expect(statements.find((s) => s.actions.includes("iot:Publish"))!.resources).toEqual(["arn:aws:iot:eu-west-1:111111111111:topic/devices/*/commands"]);
      const subscribe = statements.find((s) => s.actions.includes("iot:Subscribe"))!.resources;
      expect(subscribe.sort()).toEqual(["errors", "responses", "telemetry"].map((t) => `arn:aws:iot:eu-west-1:111111111111:topicfilter/devices/*/${t}`));
      expect(wildcardActions(statements)).toEqual([]);
    });

    test("has an active certificate from the committed CSR, replaced create-before-destroy", () => {
      expect(values("aws_iot_certificate")).toEqual([
        expect.objectContaining({
          active: true,
          csr: readFileSync(join(identityRoot, identityCsrFile("dev", "controller")), "utf8"),
          lifecycle: { create_before_destroy: true },
        }),
      ]);
    });

    test("attaches the certificate to its thing and its policy, each new attachment made before the old one goes", () => {
      expect(values("aws_iot_thing_principal_attachment")).toEqual([
        expect.objectContaining({ thing: expect.stringContaining("controller-thing"), lifecycle: { create_before_destroy: true } }),
      ]);
      expect(values("aws_iot_policy_attachment")).toEqual([
        expect.objectContaining({ policy: expect.stringContaining("controller-policy"), lifecycle: { create_before_destroy: true } }),
      ]);
    });

    test("keeps the deployed Terraform addresses of the certificate, secret and attachments", () => {
      expect(Object.keys(resourcesOf(stack, "aws_iot_certificate"))).toEqual(["controller-certificate"]);
      expect(Object.keys(resourcesOf(stack, "aws_secretsmanager_secret")).filter((k) => !k.startsWith("alert-forwarder_"))).toEqual(["controller-secret"]);
      expect(Object.keys(resourcesOf(stack, "aws_iot_thing_principal_attachment"))).toEqual(["controller-thing-certificate"]);
      expect(Object.keys(resourcesOf(stack, "aws_iot_policy_attachment"))).toEqual(["controller-policy-certificate"]);
    });

    test("manages the key's secret, recoverable for 7 days, but never its value", () => {
      expect(byName("aws_secretsmanager_secret", "shf-dev/controller-certificate")).toMatchObject({ recovery_window_in_days: 7 });
      expect(values("aws_secretsmanager_secret_version")).toEqual([]);
    });

    test("publishes certificate, certificate id, endpoint and thing name in an SSM String parameter", () => {
      const parameter = byName("aws_ssm_parameter", "/shf-dev/public/controller-identity")!;
      expect(parameter).toMatchObject({ type: "String", tier: "Standard" });
      expect(parameter.insecure_value).toBe(
        '${jsonencode({"certificatePem" = aws_iot_certificate.controller-certificate.certificate_pem, "certificateId" = aws_iot_certificate.controller-certificate.id, ' +
          '"endpoint" = data.aws_iot_endpoint.data-endpoint.endpoint_address, "thingName" = aws_iot_thing.controller-thing.name})}',
      );
    });

    test("adopts a secret that identity create made in a fresh environment (import by name), online only", () => {
      expect((stack.tf as { import?: unknown[] }).import).toEqual([
        { id: "shf-dev/controller-certificate", to: "aws_secretsmanager_secret.controller-secret" },
      ]);
      expect((synth(true).tf as { import?: unknown[] }).import).toBeUndefined();
    });

    test("fails when the environment has no controller CSR, naming the command that creates it", () => {
      expect(() => synth(false, tmpdir())).toThrow("Run `IOT_ENV=dev npm run identity -- create controller`");
    });

    test("reads the IoT data endpoint from AWS when online", () => {
      expect(Object.values(stack.tf.data?.aws_iot_endpoint ?? {})).toEqual([expect.objectContaining({ endpoint_type: "iot:Data-ATS" })]);
    });
  });

  describe("offline", () => {
    const offline = synth(true);

    test("GIVEN no CSR WHEN offline THEN the certificate comes from the committed placeholder CSR", () => {
      const placeholder = readFileSync(join(REPOSITORY_ROOT, PLACEHOLDER_CSR_FILE), "utf8");
      expect(values("aws_iot_certificate", synth(true, tmpdir()))[0].csr).toBe(placeholder);
    });

    test("calls no AWS data source (only the local aws_iam_policy_document)", () => {
      expect(Object.keys(offline.tf.data ?? {})).toEqual(["aws_iam_policy_document"]);
    });

    test("hands placeholder references to later stacks", () => {
      const iot = new IotStack(Testing.app(), "iot", { config: loadConfig("dev"), offline: true, iotServiceRoles });
      expect(iot.registryTable).toEqual({
        tableName: "shf-dev-device-registry",
        tableArn: "arn:aws:dynamodb:eu-west-1:111111111111:table/shf-dev-device-registry",
      });
      expect(iot.alarmTopic.topicArn).toBe("arn:aws:sns:eu-west-1:111111111111:shf-dev-alarms");
      expect(iot.devicePolicyName).toBe("shf-dev-device");
      expect(iot.iotDataEndpoint).toMatch(/^[a-z0-9]+-ats\.iot\.eu-west-1\.amazonaws\.com$/);
    });
  });

  test("creates a thing type and a thing group per configured device type", () => {
    const expected = loadConfig("dev")
      .deviceTypes.map((t) => `shf-dev-${t}`)
      .sort();
    expect(
      values("aws_iot_thing_type")
        .map((r) => r.name)
        .sort(),
    ).toEqual(expected);
    expect(
      values("aws_iot_thing_group")
        .map((r) => r.name)
        .sort(),
    ).toEqual(expected);
  });

  describe("topic rules", () => {
    test("send device errors, with the thing name from the topic, to the alert handler", () => {
      const rule = byName("aws_iot_topic_rule", "shf_dev_device_errors")!;
      expect(rule).toMatchObject({
        enabled: true,
        sql_version: "2016-03-23",
        sql: "SELECT id, command, code, message, at, topic(2) AS thingName, timestamp() AS receivedAt FROM 'devices/+/errors'",
      });
      expect(rule.lambda[0].function_arn).toMatch(/aws_lambda_function\.alert-handler_function_.+\.arn/);
    });

    test("log device responses to their own log group through the rule-action role", () => {
      const rule = byName("aws_iot_topic_rule", "shf_dev_device_responses")!;
      expect(rule.sql).toContain("FROM 'devices/+/responses'");
      expect(rule.cloudwatch_logs).toEqual([
        expect.objectContaining({ role_arn: iotServiceRoles.ruleAction.roleArn, log_group_name: expect.stringContaining("responses-log-group") }),
      ]);
    });

    test("send lifecycle events to the offline detector", () => {
      const rule = byName("aws_iot_topic_rule", "shf_dev_lifecycle_events")!;
      expect(rule.sql).toBe("SELECT * FROM '$aws/events/presence/+/+'");
      expect(rule.lambda[0].function_arn).toMatch(/offline-detector/);
    });

    test("each send failed actions to the rule-errors log group", () => {
      const rules = values("aws_iot_topic_rule");
      expect(rules).toHaveLength(3);
      for (const rule of rules) {
        expect(rule.error_action.cloudwatch_logs).toMatchObject({
          role_arn: iotServiceRoles.ruleAction.roleArn,
          log_group_name: expect.stringContaining("rule-errors-log-group"),
        });
      }
    });
  });

  test("every Lambda permission names its source ARN and source account", () => {
    const permissions = values("aws_lambda_permission");
    // the two rules and the two schedules (no alert forwarder: channels are opt-in)
    expect(permissions).toHaveLength(4);
    for (const p of permissions) {
      expect(p.source_arn).toEqual(expect.any(String));
      expect(p.source_account).toBe("111111111111");
    }
  });

  test("IoT rule permissions name exactly their rule", () => {
    const fromIot = values("aws_lambda_permission")
      .filter((p) => p.principal === "iot.amazonaws.com")
      .map((p) => p.source_arn);
    expect(fromIot.sort()).toEqual(["shf_dev_device_errors", "shf_dev_lifecycle_events"].map((r) => `arn:aws:iot:eu-west-1:111111111111:rule/${r}`));
  });

  test("every log group has the configured retention", () => {
    const groups = values("aws_cloudwatch_log_group");
    expect(groups.map((g) => g.name)).toEqual(expect.arrayContaining(["AWSIotLogsV2", "/shf-dev/iot/responses", "/shf-dev/iot/rule-errors"]));
    expect(groups.length).toBe(7);
    for (const g of groups) expect(g.retention_in_days).toBe(14);
  });

  test("no IAM statement allows a wildcard action", () => {
    expect(wildcardActions(policyStatements(stack))).toEqual([]);
  });

  describe("alerting", () => {
    test("alert topic is encrypted with the AWS-managed SNS key and e-mails every configured address", () => {
      expect(byName("aws_sns_topic", "shf-dev-alerts")).toMatchObject({ kms_master_key_id: "alias/aws/sns" });
      const emails = values("aws_sns_topic_subscription").filter((s) => String(s.topic_arn).includes("alert-topic") && s.protocol === "email");
      expect(emails.map((s) => [s.protocol, s.endpoint])).toEqual([["email", "iot-alerts-dev@example.com"]]);
    });

    test("alarm topic uses a rotated customer-managed key that CloudWatch alarms may use", () => {
      expect(byName("aws_sns_topic", "shf-dev-alarms")!.kms_master_key_id).toMatch(/aws_kms_key\./);
      expect(values("aws_kms_key")).toEqual([expect.objectContaining({ enable_key_rotation: true, deletion_window_in_days: 7 })]);
      const cloudwatch = documentStatements(stack, "alarm-topic_key-policy").find((s) => s.principals?.[0].identifiers.includes("cloudwatch.amazonaws.com"))!;
      expect(cloudwatch.actions).toEqual(["kms:Decrypt", "kms:GenerateDataKey*"]);
    });

    test("every alarm notifies the alarm topic: dead letters and async failures only (Lambda errors and throttles page from the ops stack)", () => {
      const alarms = values("aws_cloudwatch_metric_alarm");
      expect(alarms.map((a) => a.alarm_name).sort()).toEqual(["shf-dev-iot-async-failures", "shf-dev-revoke-certificates-dead-letters"]);
      expect(alarms.filter((a) => a.namespace === "AWS/Lambda")).toEqual([]);
      for (const a of alarms) expect(a.alarm_actions).toEqual([expect.stringContaining("alarm-topic")]);
    });

    test("the alert handler, offline detector and health check send failed async invocations to one queue, alarmed once", () => {
      const configs = values("aws_lambda_function_event_invoke_config");
      expect(configs.map((c) => String(c.function_name).replace(/^\$\{aws_lambda_function\.([a-z-]+)_function_.*$/, "$1")).sort()).toEqual([
        "alert-handler",
        "health-check",
        "offline-detector",
      ]);
      const queue = Object.entries(resourcesOf(stack, "aws_sqs_queue")).find(([, q]) => q.name === "shf-dev-iot-async-failures")!;
      for (const c of configs) expect(c.destination_config.on_failure.destination).toBe(`\${aws_sqs_queue.${queue[0]}.arn}`);
      expect(values("aws_cloudwatch_metric_alarm").find((a) => a.alarm_name === "shf-dev-iot-async-failures")).toMatchObject({
        dimensions: { QueueName: `\${aws_sqs_queue.${queue[0]}.name}` },
        threshold: 1,
      });
    });

    test("alert-state table expires items by expiresAt, is encrypted and has point-in-time recovery", () => {
      expect(byName("aws_dynamodb_table", "shf-dev-alert-state")).toMatchObject({
        hash_key: "alertKey",
        ttl: { attribute_name: "expiresAt", enabled: true },
        server_side_encryption: { enabled: true },
        point_in_time_recovery: { enabled: true },
      });
    });

    test("functions get the environment variables of docs/contracts.md", () => {
      expect(Object.keys(byName("aws_lambda_function", "shf-dev-alert-handler")!.environment.variables).sort()).toEqual([
        "ALERT_BUDGET_PER_DEVICE",
        "ALERT_BUDGET_WINDOW_SECONDS",
        "ALERT_COOLDOWN_SECONDS",
        "ALERT_STATE_TABLE_NAME",
        "ALERT_TOPIC_ARN",
        "ENVIRONMENT",
      ]);
      expect(Object.keys(byName("aws_lambda_function", "shf-dev-offline-detector")!.environment.variables).sort()).toEqual([
        "ALERT_TOPIC_ARN",
        "ENVIRONMENT",
        "OFFLINE_GRACE_SECONDS",
        "REGISTRY_TABLE_NAME",
      ]);
      expect(Object.keys(byName("aws_lambda_function", "shf-dev-health-check")!.environment.variables).sort()).toEqual([
        "ALERT_TOPIC_ARN",
        "ENVIRONMENT",
        "HEALTH_OFFLINE_THRESHOLD_SECONDS",
        "REGISTRY_TABLE_NAME",
      ]);
    });

    test("each function may do on its table exactly what docs/contracts.md lists", () => {
      const actions = (prefix: string) =>
        documentStatements(stack, prefix)
          .flatMap((s) => s.actions)
          .sort();
      expect(actions("alert-handler_grants_alert-state-table")).toEqual(["dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]);
      expect(actions("offline-detector_grants_registry-table")).toEqual(["dynamodb:Scan", "dynamodb:UpdateItem"]);
      expect(actions("health-check_grants_registry-table")).toEqual(["dynamodb:Scan"]);
    });

    test("the alert handler's budget comes from config.alerts.budget", () => {
      expect(byName("aws_lambda_function", "shf-dev-alert-handler")!.environment.variables).toMatchObject({
        ALERT_BUDGET_PER_DEVICE: "20",
        ALERT_BUDGET_WINDOW_SECONDS: "3600",
      });
    });
  });

  describe("alert forwarder (Slack and webhooks)", () => {
    const forwarder = () => byName("aws_lambda_function", "shf-dev-alert-forwarder", withChannels)!;

    test("is subscribed to the alert topic, invocable only by SNS from that topic, with a redrive to its dead letters", () => {
      const sub = values("aws_sns_topic_subscription", withChannels).find((s) => s.protocol === "lambda")!;
      expect(sub.topic_arn).toMatch(/aws_sns_topic\.alert-topic_.+\.arn/);
      expect(sub.endpoint).toMatch(/aws_lambda_function\.alert-forwarder_function_.+\.arn/);
      expect(sub.redrive_policy).toMatch(/jsonencode\(\{"deadLetterTargetArn" = aws_sqs_queue\.alert-forwarder_dead-letters_.+\.arn\}\)/);
      const permission = values("aws_lambda_permission", withChannels).find((p) => p.principal === "sns.amazonaws.com")!;
      expect(permission).toMatchObject({ source_account: "111111111111", action: "lambda:InvokeFunction" });
      expect(permission.source_arn).toMatch(/aws_sns_topic\.alert-topic_.+\.arn/);
    });

    test("names channel secrets, never their values, in its environment", () => {
      expect(forwarder().environment.variables).toMatchObject({ ALERT_CHANNELS: "slack:ops=shf-dev/alert-channels/ops", ENVIRONMENT: "dev" });
      const secret = byName("aws_secretsmanager_secret", "shf-dev/alert-channels/ops", withChannels)!;
      expect(secret).toMatchObject({ recovery_window_in_days: 7 });
      expect(values("aws_secretsmanager_secret_version", withChannels)).toEqual([]);
    });

    test("may read exactly its channel secrets, its delivery markers and send to its dead letters", () => {
      const statements = documentStatements(withChannels, "alert-forwarder_function_grants");
      expect(statements.flatMap((s) => s.actions).sort()).toEqual([
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "secretsmanager:GetSecretValue",
        "sqs:SendMessage",
      ]);
      expect(statements.find((s) => s.actions.includes("secretsmanager:GetSecretValue"))!.resources).toEqual([
        expect.stringMatching(/aws_secretsmanager_secret\.alert-forwarder_secret-ops_.+\.arn/),
      ]);
    });

    test("sends failed invocations, after Lambda's two retries, to an encrypted dead-letter queue with an alarm", () => {
      const config = values("aws_lambda_function_event_invoke_config", withChannels).find((c) => String(c.function_name).includes("alert-forwarder"))!;
      expect(config).toMatchObject({ maximum_retry_attempts: 2, maximum_event_age_in_seconds: 3600 });
      expect(config.destination_config.on_failure.destination).toMatch(/aws_sqs_queue\.alert-forwarder_dead-letters_.+\.arn/);
      expect(byName("aws_sqs_queue", "shf-dev-alert-forwarder-dlq", withChannels)).toMatchObject({
        sqs_managed_sse_enabled: true,
        message_retention_seconds: 1209600,
      });
      expect(values("aws_cloudwatch_metric_alarm", withChannels).find((a) => a.alarm_name === "shf-dev-alert-forwarder-dead-letters")).toMatchObject({
        namespace: "AWS/SQS",
        metric_name: "ApproximateNumberOfMessagesVisible",
        threshold: 1,
      });
      const redrive = documentStatements(withChannels, "alert-forwarder_dead-letters-policy-document")[0];
      expect(redrive.principals).toEqual([{ type: "Service", identifiers: ["sns.amazonaws.com"] }]);
      expect(redrive.condition).toEqual([
        { test: "ArnEquals", variable: "aws:SourceArn", values: [expect.stringMatching(/aws_sns_topic\.alert-topic_.+\.arn/)] },
      ]);
    });

    test("is left out by default (channels are opt-in): no function, secret, queue, alarm or subscription", () => {
      expect(base.alerts.channels).toEqual([]);
      expect(byName("aws_lambda_function", "shf-dev-alert-forwarder")).toBeUndefined();
      expect(values("aws_secretsmanager_secret").map((s) => s.name)).toEqual(["shf-dev/controller-certificate"]);
      expect(values("aws_sqs_queue").map((q) => q.name)).not.toContain("shf-dev-alert-forwarder-dlq");
      expect(values("aws_cloudwatch_metric_alarm").map((a) => a.alarm_name)).not.toContain("shf-dev-alert-forwarder-dead-letters");
      expect(values("aws_sns_topic_subscription").filter((s) => s.protocol === "lambda")).toEqual([]);
    });
  });

  test("registry table is on-demand, encrypted, recoverable and protected from deletion", () => {
    expect(byName("aws_dynamodb_table", "shf-dev-device-registry")).toMatchObject({
      hash_key: "serialNumber",
      billing_mode: "PAY_PER_REQUEST",
      server_side_encryption: { enabled: true },
      point_in_time_recovery: { enabled: true },
      deletion_protection_enabled: true,
    });
  });

  test("schedules the offline sweep every 5 minutes and the health check daily", () => {
    expect(byName("aws_cloudwatch_event_rule", "shf-dev-offline-sweep")).toMatchObject({ schedule_expression: "rate(5 minutes)" });
    expect(byName("aws_cloudwatch_event_rule", "shf-dev-daily-health-check")).toMatchObject({ schedule_expression: "cron(0 7 * * ? *)" });
    const targets = values("aws_cloudwatch_event_target").map((t) => [t.rule, t.arn].join(" -> "));
    expect(targets).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/offline-sweep.* -> .*offline-detector/),
        expect.stringMatching(/health-check-schedule.* -> .*health-check_function/),
      ]),
    );
  });

  test("indexes registry, shadows and connectivity, with the reported firmware version aggregatable, and logs IoT Core warnings and errors through the logging role", () => {
    expect(stack.json).toHaveResourceWithProperties(
      { tfResourceType: "aws_iot_indexing_configuration" },
      {
        thing_indexing_configuration: {
          thing_indexing_mode: "REGISTRY_AND_SHADOW",
          thing_connectivity_indexing_mode: "STATUS",
          custom_field: [{ name: "shadow.reported.firmwareVersion", type: "String" }],
        },
      },
    );
    expect(stack.json).toHaveResourceWithProperties(
      { tfResourceType: "aws_iot_logging_options" },
      { default_log_level: "WARN", role_arn: iotServiceRoles.logging.roleArn, disable_all_logs: false },
    );
  });

  test("every output has a description", () => {
    for (const output of Object.values(stack.tf.output ?? {})) expect(output.description).toEqual(expect.any(String));
  });
});
