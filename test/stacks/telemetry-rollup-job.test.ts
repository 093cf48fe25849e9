/** The telemetry stack's hourly rollup job (stacks/telemetry/rollup-job.ts): function, grants, schedule, failure queue. */
import { loadConfig } from "../../config";
import { ROLLUP_SCHEDULE_EXPRESSION } from "../../functions/telemetry-rollup/contract";
import { schedulePerMonth } from "../../cost/inventory";
import { TelemetryStack } from "../../stacks/telemetry-stack";
import { resourcesOf, synthStack, type SynthesizedStack } from "../support/synth";
import { alarmTopic, registryTable } from "./fleet-refs";

const dev = loadConfig("dev");
const synth = (hotRetentionDays = dev.telemetry.hotRetentionDays) =>
  synthStack((app, props) => new TelemetryStack(app, "telemetry", { ...props, registryTable, alarmTopic }), {
    config: { ...dev, telemetry: { ...dev.telemetry, hotRetentionDays } },
  });

type Body = Record<string, any>;
const byPrefix = (stack: SynthesizedStack, type: string, prefix: string): [string, Body][] =>
  Object.entries(resourcesOf(stack, type)).filter(([name]) => name.startsWith(prefix)) as [string, Body][];
const only = (stack: SynthesizedStack, type: string, prefix: string): [string, Body] => {
  const found = byPrefix(stack, type, prefix);
  expect(found).toHaveLength(1);
  return found[0]!;
};
/** Each inline policy of the job's role: its name and the actions and resources it grants. */
function grantsOf(stack: SynthesizedStack): Record<string, { actions: string[]; resources: string[] }[]> {
  return Object.fromEntries(
    byPrefix(stack, "aws_iam_role_policy", "telemetry-rollup_grants_").map(([, policy]) => {
      const doc = /data\.aws_iam_policy_document\.([^.]+)\.json/.exec(String(policy.policy))![1]!;
      return [policy.name, stack.tf.data!.aws_iam_policy_document[doc].statement];
    }),
  );
}

const stack = synth();

describe("TelemetryStack: hourly rollup job", () => {
  test("deploys the job from its contract: 5 minutes, arm64, rollups kept as long as the hot store's readings", () => {
    const [, fn] = only(stack, "aws_lambda_function", "telemetry-rollup_");
    expect(fn).toMatchObject({ function_name: "shf-dev-telemetry-rollup", timeout: 300, memory_size: 256, architectures: ["arm64"] });
    expect(fn.environment.variables).toEqual({
      ENVIRONMENT: "dev",
      REGISTRY_TABLE_NAME: registryTable.tableName,
      TELEMETRY_TABLE_NAME: "${aws_dynamodb_table.telemetry-table.name}",
      TELEMETRY_ROLLUP_TABLE_NAME: "${aws_dynamodb_table.rollup-table.name}",
      ROLLUP_TTL_SECONDS: String(90 * 86400),
      ROLLUP_MAX_HOURS_PER_RUN: "48",
    });
  });

  test("grants exactly the table actions the job uses: a registry Scan, hot-store Queries, rollup Query, PutItem and UpdateItem", () => {
    const grants = grantsOf(stack);
    expect(Object.keys(grants).sort()).toEqual([
      "registry-table-access",
      "rollup-table-access",
      "telemetry-rollup-async-failures-send",
      "telemetry-table-access",
      "write-own-logs",
    ]);
    expect(grants["registry-table-access"]).toEqual([
      expect.objectContaining({ actions: ["dynamodb:Scan"], resources: expect.arrayContaining([registryTable.tableArn]) }),
    ]);
    expect(grants["telemetry-table-access"]).toEqual([
      expect.objectContaining({ actions: ["dynamodb:Query"], resources: expect.arrayContaining(["${aws_dynamodb_table.telemetry-table.arn}"]) }),
    ]);
    expect(grants["rollup-table-access"]).toEqual([
      expect.objectContaining({
        actions: ["dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"],
        resources: expect.arrayContaining(["${aws_dynamodb_table.rollup-table.arn}"]),
      }),
    ]);
  });

  test("runs it 7 minutes past every hour from an EventBridge rule that alone may invoke it", () => {
    expect(resourcesOf(stack, "aws_cloudwatch_event_rule")["telemetry-rollup-schedule"]).toMatchObject({
      name: "shf-dev-telemetry-rollup",
      schedule_expression: "cron(7 * * * ? *)",
    });
    expect(ROLLUP_SCHEDULE_EXPRESSION).toBe("cron(7 * * * ? *)");
    expect(schedulePerMonth(ROLLUP_SCHEDULE_EXPRESSION)).toBe(730);
    const [fnName] = only(stack, "aws_lambda_function", "telemetry-rollup_");
    expect(resourcesOf(stack, "aws_cloudwatch_event_target")["telemetry-rollup-schedule-target"]).toMatchObject({
      rule: "${aws_cloudwatch_event_rule.telemetry-rollup-schedule.name}",
      arn: `\${aws_lambda_function.${fnName}.arn}`,
    });
    const [, permission] = only(stack, "aws_lambda_permission", "telemetry-rollup_permissions_");
    expect(permission).toMatchObject({
      principal: "events.amazonaws.com",
      source_arn: "${aws_cloudwatch_event_rule.telemetry-rollup-schedule.arn}",
      source_account: dev.accountId,
    });
  });

  test("keeps a run that failed after Lambda's retries in an encrypted queue, alarmed on the first one", () => {
    const [queueName, queue] = only(stack, "aws_sqs_queue", "telemetry-rollup-async-failures_");
    expect(queue).toMatchObject({ name: "shf-dev-telemetry-rollup-async-failures", sqs_managed_sse_enabled: true });
    const [, config] = only(stack, "aws_lambda_function_event_invoke_config", "telemetry-rollup-async-failures_");
    expect(config).toMatchObject({ maximum_retry_attempts: 2, destination_config: { on_failure: { destination: `\${aws_sqs_queue.${queueName}.arn}` } } });
    const [, alarm] = only(stack, "aws_cloudwatch_metric_alarm", "telemetry-rollup-async-failures_");
    expect(alarm).toMatchObject({ alarm_name: "shf-dev-telemetry-rollup-async-failures", alarm_actions: [alarmTopic.topicArn] });
  });

  test("derives the rollups' lifetime from telemetry.hotRetentionDays", () => {
    const [, fn] = only(synth(30), "aws_lambda_function", "telemetry-rollup_");
    expect(fn.environment.variables.ROLLUP_TTL_SECONDS).toBe(String(30 * 86400));
  });
});
