/**
 * The telemetry stack's stream consumer (design items 2 and 3): the hot table's NEW_IMAGE stream feeds
 * INSERT records to the broadcaster in batches (functions/telemetry-broadcast/contract.ts STREAM_CONSUMER),
 * with an alarmed on-failure queue, and the function gets exactly the settings and permissions its work needs.
 */
import { loadConfig } from "../../config";
import type { TelemetryConfig } from "../../config/types";
import { STREAM_CONSUMER, TELEMETRY_BROADCAST } from "../../functions/telemetry-broadcast/contract";
import { TelemetryStack } from "../../stacks/telemetry-stack";
import { resourcesOf, synthStack, type SynthesizedStack } from "../support/synth";
import { alarmTopic, registryTable } from "./fleet-refs";

const dev = loadConfig("dev");
const synth = (telemetry: Partial<TelemetryConfig> = {}) =>
  synthStack((app, props) => new TelemetryStack(app, "telemetry", { ...props, registryTable, alarmTopic }), {
    config: { ...dev, telemetry: { ...dev.telemetry, ...telemetry } },
  });

type Body = Record<string, any>;
const all = (stack: SynthesizedStack, type: string): Body[] => Object.values(resourcesOf(stack, type));
/** The statements of the inline policy whose resource name contains `fragment`. */
function statementsOf(stack: SynthesizedStack, fragment: string): { actions: string[]; resources?: string[] }[] {
  const [, policy] = Object.entries(resourcesOf(stack, "aws_iam_role_policy")).find(([name]) => name.includes(fragment))!;
  const doc = /data\.aws_iam_policy_document\.([^.]+)\.json/.exec(String(policy.policy))![1];
  return stack.tf.data!.aws_iam_policy_document[doc].statement as { actions: string[]; resources?: string[] }[];
}

const stack = synth();

describe("TelemetryStack: stream consumer", () => {
  const mapping = () => all(stack, "aws_lambda_event_source_mapping")[0]!;
  const broadcaster = () => all(stack, "aws_lambda_function").find((f) => f.function_name === "shf-dev-telemetry-broadcast")!;

  test("feeds only the hot table's INSERT records to the broadcaster, in batches, from the latest record", () => {
    expect(all(stack, "aws_lambda_event_source_mapping")).toHaveLength(1);
    expect(mapping()).toMatchObject({
      event_source_arn: "${aws_dynamodb_table.telemetry-table.stream_arn}",
      function_name: expect.stringMatching(/^\$\{aws_lambda_function\.telemetry-broadcast_function_\w+\.arn\}$/),
      starting_position: "LATEST",
      batch_size: STREAM_CONSUMER.batchSize,
      maximum_batching_window_in_seconds: STREAM_CONSUMER.batchingWindowSeconds,
      parallelization_factor: STREAM_CONSUMER.parallelizationFactor,
      filter_criteria: { filter: [{ pattern: '{"eventName":["INSERT"]}' }] },
    });
  });

  test("reports partial failures, splits failing batches and sends records past the retries or the age limit to an alarmed queue", () => {
    expect(mapping()).toMatchObject({
      function_response_types: ["ReportBatchItemFailures"],
      bisect_batch_on_function_error: true,
      maximum_retry_attempts: STREAM_CONSUMER.maximumRetryAttempts,
      maximum_record_age_in_seconds: STREAM_CONSUMER.maximumRecordAgeSeconds,
    });
    const queue = all(stack, "aws_sqs_queue").find((q) => q.name === "shf-dev-telemetry-broadcast-dlq")!;
    expect(queue).toMatchObject({ sqs_managed_sse_enabled: true, message_retention_seconds: 14 * 86400 });
    expect(mapping().destination_config.on_failure.destination_arn).toMatch(/^\$\{aws_sqs_queue\.telemetry-stream_dead-letters_\w+\.arn\}$/);
    expect(all(stack, "aws_cloudwatch_metric_alarm").find((a) => a.alarm_name === "shf-dev-telemetry-broadcast-dead-letters")).toMatchObject({
      namespace: "AWS/SQS",
      metric_name: "ApproximateNumberOfMessagesVisible",
      alarm_actions: [alarmTopic.topicArn],
    });
  });

  test("is no longer invoked asynchronously: no async on-failure config, no invoke permission for IoT", () => {
    const broadcasterConfigs = all(stack, "aws_lambda_function_event_invoke_config").filter((c) => String(c.function_name).includes("telemetry-broadcast"));
    expect(broadcasterConfigs).toEqual([]);
    expect(all(stack, "aws_lambda_permission").filter((p) => p.principal === "iot.amazonaws.com")).toEqual([]);
  });

  test("tells the broadcaster the warm stream, the alert handler and the thresholds as JSON", () => {
    expect(broadcaster().environment.variables).toMatchObject({
      WARM_STORE_DELIVERY_STREAM: "${aws_kinesis_firehose_delivery_stream.warm-stream.name}",
      ALERT_FUNCTION_NAME: "shf-dev-alert-handler",
      TELEMETRY_THRESHOLDS: JSON.stringify(dev.telemetry.thresholds),
    });
    expect(JSON.parse(broadcaster().environment.variables.TELEMETRY_THRESHOLDS)).toHaveLength(3);
    expect(broadcaster()).toMatchObject({ timeout: TELEMETRY_BROADCAST.timeoutSeconds, memory_size: TELEMETRY_BROADCAST.memoryMiB });
  });

  test("writes [] when no thresholds are configured", () => {
    const fn = all(synth({ thresholds: [] }), "aws_lambda_function").find((f) => f.function_name === "shf-dev-telemetry-broadcast")!;
    expect(fn.environment.variables.TELEMETRY_THRESHOLDS).toBe("[]");
  });

  test("gives the broadcaster exactly the permissions its work needs", () => {
    const policies = Object.keys(resourcesOf(stack, "aws_iam_role_policy"))
      .filter((name) => name.startsWith("telemetry-broadcast_grants_"))
      .map((name) => name.replace(/^telemetry-broadcast_grants_/, "").replace(/_\w+$/, ""))
      .sort();
    expect(policies).toEqual([
      "alert-handler-invoke",
      "connections-table-access",
      "post-to-connections",
      "registry-table-access",
      "telemetry-stream-stream",
      "warm-stream-put",
      "write-own-logs",
    ]);
    const actionsOf = (fragment: string) =>
      statementsOf(stack, `telemetry-broadcast_grants_${fragment}`).map((s) => ({ actions: s.actions, resources: s.resources }));
    expect(actionsOf("registry-table-access")).toEqual([
      { actions: ["dynamodb:GetItem", "dynamodb:BatchGetItem"], resources: [registryTable.tableArn, `${registryTable.tableArn}/index/*`] },
    ]);
    expect(actionsOf("connections-table-access")[0]!.actions).toEqual(["dynamodb:Query", "dynamodb:DeleteItem"]);
    expect(actionsOf("warm-stream-put")).toEqual([
      { actions: ["firehose:PutRecordBatch"], resources: ["${aws_kinesis_firehose_delivery_stream.warm-stream.arn}"] },
    ]);
    expect(actionsOf("alert-handler-invoke")).toEqual([
      { actions: ["lambda:InvokeFunction"], resources: ["arn:aws:lambda:eu-west-1:111111111111:function:shf-dev-alert-handler"] },
    ]);
    expect(actionsOf("telemetry-stream-stream")).toEqual([
      {
        actions: ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"],
        resources: ["${aws_dynamodb_table.telemetry-table.stream_arn}"],
      },
      { actions: ["sqs:SendMessage"], resources: [expect.stringMatching(/^\$\{aws_sqs_queue\.telemetry-stream_dead-letters_\w+\.arn\}$/)] },
    ]);
  });

  test("has no threshold or live rules left: the telemetry rule is the store rule alone", () => {
    expect(all(stack, "aws_iot_topic_rule").map((r) => r.name)).toEqual(["shf_dev_telemetry_store"]);
  });
});
