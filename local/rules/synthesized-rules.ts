/**
 * The topic rules the stacks synthesize, read from their Terraform JSON (never a hand-kept copy):
 * every `aws_iot_topic_rule` with its SQL and actions, and what those actions point at — the tables
 * (key schema), the Firehose delivery streams (bucket, prefixes, compression), the log groups and the
 * functions the stacks define — with references resolved to the names the twin uses.
 *
 * ```ts
 * const { topicRules } = synthesizeIot("dev");      // iot-core/synthesized-iot.ts calls rulesFromTerraform
 * topicRules.rules.find((r) => r.name === names.telemetryStoreRule)!.sql;
 * ```
 */

/** One action of a rule, with the names it targets. */
export type RuleAction =
  | { readonly type: "lambda"; readonly functionName: string }
  | { readonly type: "dynamodbv2"; readonly tableName: string }
  | { readonly type: "firehose"; readonly deliveryStreamName: string; readonly separator?: string; readonly batchMode: boolean }
  | { readonly type: "cloudwatchLogs"; readonly logGroupName: string; readonly batchMode: boolean }
  /** An action type the twin does not run (listed by the coverage test). */
  | { readonly type: "unsupported"; readonly action: string };

export interface SynthesizedTopicRule {
  /** Stack id and construct name, e.g. `telemetry/telemetry-store-rule`. */
  readonly key: string;
  readonly name: string;
  readonly sql: string;
  readonly sqlVersion: string;
  readonly enabled: boolean;
  readonly actions: readonly RuleAction[];
  readonly errorAction?: RuleAction;
}

export interface SynthesizedTable {
  readonly tableName: string;
  readonly hashKey: string;
  readonly rangeKey?: string;
  /** Key attribute types (`S`, `N`, `B`), by name. */
  readonly attributes: Readonly<Record<string, string>>;
}

export interface SynthesizedDeliveryStream {
  readonly name: string;
  readonly bucketName: string;
  /** `extended_s3_configuration.prefix` (may hold `!{timestamp:...}` expressions). @default "" */
  readonly prefix: string;
  readonly errorOutputPrefix?: string;
  readonly compressionFormat: string;
  readonly fileExtension?: string;
}

export interface SynthesizedTopicRules {
  readonly rules: readonly SynthesizedTopicRule[];
  readonly tables: ReadonlyMap<string, SynthesizedTable>;
  readonly deliveryStreams: ReadonlyMap<string, SynthesizedDeliveryStream>;
  readonly logGroups: ReadonlySet<string>;
  /** Every Lambda function name the stacks define (a rule may target another stack's). */
  readonly functionNames: ReadonlySet<string>;
  /** Each function's `aws_lambda_function_event_invoke_config`, by function name. */
  readonly asyncInvokeConfigs: ReadonlyMap<string, SynthesizedAsyncInvokeConfig>;
}

/** How Lambda handles a function's asynchronous invocations (the rules' Lambda actions, schedules). */
export interface SynthesizedAsyncInvokeConfig {
  readonly functionName: string;
  /** @default 2 (Lambda's) */
  readonly maximumRetryAttempts: number;
  /** Name of the SQS queue of `destination_config.on_failure`. */
  readonly onFailureQueue?: string;
}

type Resources = Readonly<Record<string, Readonly<Record<string, Record<string, unknown>>>>>;
/** Resolves a synthesized value to a string (see `referenceResolver` in synthesized-iot.ts). */
export type Resolve = (value: unknown, what: string) => string;

/** The action blocks of `aws_iot_topic_rule` the twin runs; any other block present is `unsupported`. */
const RULE_ACTION_BLOCKS = [
  "cloudwatch_alarm",
  "cloudwatch_logs",
  "cloudwatch_metric",
  "dynamodb",
  "dynamodbv2",
  "elasticsearch",
  "firehose",
  "http",
  "iot_analytics",
  "iot_events",
  "kafka",
  "kinesis",
  "lambda",
  "republish",
  "s3",
  "sns",
  "sqs",
  "step_functions",
  "timestream",
];

/** The rules and their targets of one stack; `resolve` reads literal strings and whole references. */
export function rulesOfStack(stackId: string, resources: Resources | undefined, resolve: Resolve) {
  const all = (type: string) => Object.entries(resources?.[type] ?? {});
  const refName = (value: unknown, type: string, attribute: string, what: string): string => {
    // An ARN attribute is computed by AWS; the twin knows the resource by its name argument.
    const m = typeof value === "string" ? new RegExp(`^\\$\\{${type}\\.([^.}]+)\\.${attribute}\\}$`).exec(value) : null;
    if (!m) return resolve(value, what);
    const target = resources?.[type]?.[m[1]!];
    if (!target) throw new Error(`${stackId}: ${what} references missing ${type}.${m[1]}`);
    const nameArgument: Record<string, string> = { aws_lambda_function: "function_name", aws_sqs_queue: "name" };
    return resolve(target[nameArgument[type] ?? "bucket"], `${type}.${m[1]}`);
  };
  const action = (block: string, a: Record<string, unknown>, what: string): RuleAction => {
    switch (block) {
      case "lambda": {
        const arn = refName(a.function_arn, "aws_lambda_function", "arn", `${what}.function_arn`);
        return { type: "lambda", functionName: arn.startsWith("arn:") ? arn.slice(arn.lastIndexOf(":") + 1) : arn };
      }
      case "dynamodbv2": {
        const putItem = (Array.isArray(a.put_item) ? a.put_item[0] : a.put_item) as Record<string, unknown> | undefined;
        return { type: "dynamodbv2", tableName: resolve(putItem?.table_name, `${what}.put_item.table_name`) };
      }
      case "firehose":
        return {
          type: "firehose",
          deliveryStreamName: resolve(a.delivery_stream_name, `${what}.delivery_stream_name`),
          separator: typeof a.separator === "string" ? a.separator : undefined,
          batchMode: a.batch_mode === true,
        };
      case "cloudwatch_logs":
        return { type: "cloudwatchLogs", logGroupName: resolve(a.log_group_name, `${what}.log_group_name`), batchMode: a.batch_mode === true };
      default:
        return { type: "unsupported", action: block };
    }
  };

  const rules: SynthesizedTopicRule[] = [];
  for (const [id, r] of all("aws_iot_topic_rule")) {
    const what = `aws_iot_topic_rule.${id}`;
    const actions: RuleAction[] = [];
    for (const block of RULE_ACTION_BLOCKS) {
      const list = r[block];
      if (list === undefined) continue;
      for (const [i, a] of (Array.isArray(list) ? list : [list]).entries()) actions.push(action(block, a as Record<string, unknown>, `${what}.${block}[${i}]`));
    }
    const errorBlock = Object.entries((r.error_action ?? {}) as Record<string, unknown>).find(([, v]) => v !== undefined && v !== null);
    rules.push({
      key: `${stackId}/${id}`,
      name: resolve(r.name, `${what}.name`),
      sql: resolve(r.sql, `${what}.sql`),
      sqlVersion: typeof r.sql_version === "string" ? r.sql_version : "2015-10-08",
      enabled: r.enabled !== false,
      actions,
      errorAction: errorBlock
        ? action(errorBlock[0], (Array.isArray(errorBlock[1]) ? errorBlock[1][0] : errorBlock[1]) as Record<string, unknown>, `${what}.error_action`)
        : undefined,
    });
  }

  const tables: SynthesizedTable[] = all("aws_dynamodb_table").map(([id, t]) => ({
    tableName: resolve(t.name, `aws_dynamodb_table.${id}.name`),
    hashKey: String(t.hash_key),
    rangeKey: typeof t.range_key === "string" ? t.range_key : undefined,
    attributes: Object.fromEntries(((t.attribute ?? []) as { name: string; type: string }[]).map((x) => [x.name, x.type])),
  }));

  const deliveryStreams: SynthesizedDeliveryStream[] = all("aws_kinesis_firehose_delivery_stream").map(([id, s]) => {
    const what = `aws_kinesis_firehose_delivery_stream.${id}`;
    const c = (s.extended_s3_configuration ?? {}) as Record<string, unknown>;
    if (s.destination !== "extended_s3") throw new Error(`${stackId}: ${what} has destination ${String(s.destination)}; the twin delivers extended_s3 only`);
    if (
      c.dynamic_partitioning_configuration !== undefined ||
      c.processing_configuration !== undefined ||
      c.data_format_conversion_configuration !== undefined
    ) {
      throw new Error(`${stackId}: ${what} uses dynamic partitioning, processing or format conversion, which the twin does not emulate`);
    }
    return {
      name: resolve(s.name, `${what}.name`),
      bucketName: refName(c.bucket_arn, "aws_s3_bucket", "arn", `${what}.extended_s3_configuration.bucket_arn`),
      prefix: typeof c.prefix === "string" ? c.prefix : "",
      errorOutputPrefix: typeof c.error_output_prefix === "string" ? c.error_output_prefix : undefined,
      compressionFormat: typeof c.compression_format === "string" ? c.compression_format : "UNCOMPRESSED",
      fileExtension: typeof c.file_extension === "string" ? c.file_extension : undefined,
    };
  });

  const logGroups = all("aws_cloudwatch_log_group").map(([id, g]) => resolve(g.name, `aws_cloudwatch_log_group.${id}.name`));
  const functionNames = all("aws_lambda_function").map(([id, f]) => resolve(f.function_name, `aws_lambda_function.${id}.function_name`));
  const asyncInvokeConfigs: SynthesizedAsyncInvokeConfig[] = all("aws_lambda_function_event_invoke_config").map(([id, c]) => {
    const what = `aws_lambda_function_event_invoke_config.${id}`;
    const onFailure = ((c.destination_config as Record<string, unknown> | undefined)?.on_failure as Record<string, unknown> | undefined)?.destination;
    if (onFailure !== undefined && !/^\$\{aws_sqs_queue\./.test(String(onFailure))) {
      throw new Error(`${stackId}: ${what} sends failures to ${String(onFailure)}; the twin delivers to SQS queues of the same stack only`);
    }
    return {
      functionName: refName(c.function_name, "aws_lambda_function", "function_name", `${what}.function_name`),
      maximumRetryAttempts: typeof c.maximum_retry_attempts === "number" ? c.maximum_retry_attempts : 2,
      onFailureQueue: onFailure === undefined ? undefined : refName(onFailure, "aws_sqs_queue", "arn", `${what}.destination_config.on_failure.destination`),
    };
  });
  return { rules, tables, deliveryStreams, logGroups, functionNames, asyncInvokeConfigs };
}

/** Collects {@link rulesOfStack} over every stack. */
export function mergeRules(perStack: readonly ReturnType<typeof rulesOfStack>[]): SynthesizedTopicRules {
  return {
    rules: perStack.flatMap((s) => s.rules),
    tables: new Map(perStack.flatMap((s) => s.tables).map((t) => [t.tableName, t])),
    deliveryStreams: new Map(perStack.flatMap((s) => s.deliveryStreams).map((d) => [d.name, d])),
    logGroups: new Set(perStack.flatMap((s) => s.logGroups)),
    functionNames: new Set(perStack.flatMap((s) => s.functionNames)),
    asyncInvokeConfigs: new Map(perStack.flatMap((s) => s.asyncInvokeConfigs).map((c) => [c.functionName, c])),
  };
}
