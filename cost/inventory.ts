/**
 * What the synthesized stacks contain that has a price: read from the Terraform JSON that
 * `cdktf synth` writes (cdktf.out/stacks/<id>/cdk.tf.json), never from a second list.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { streamConsumersOf, type StreamConsumerInfo } from "./stream-consumers";

type Resources = Record<string, Record<string, Record<string, unknown>>>;
export interface SynthesizedStacks {
  readonly [stackId: string]: { readonly resource?: Resources; readonly data?: Resources };
}

export interface TopicRuleInfo {
  readonly stack: string;
  readonly name: string;
  /** Topic filter of the FROM clause ("" when the rule is reached by Basic Ingest only). */
  readonly from: string;
  readonly hasWhere: boolean;
  /** Rule actions (not the error action). */
  readonly actions: { readonly type: string; readonly target?: string }[];
}

export interface Inventory {
  readonly environment: string;
  readonly functions: { readonly name: string; readonly memoryMiB: number; readonly arm64: boolean }[];
  readonly topicRules: TopicRuleInfo[];
  /** Metrics the alarms watch: one per plain alarm, one per metric in a metric-math alarm. */
  readonly alarmMetrics: { readonly standard: number; readonly highResolution: number };
  readonly alarmCount: number;
  readonly dashboards: number;
  readonly logGroups: { readonly name: string; readonly retentionDays: number }[];
  readonly tables: { readonly name: string; readonly onDemand: boolean; readonly pitr: boolean; readonly ttlAttribute?: string }[];
  readonly buckets: number;
  /**
   * Warm-store style lifecycle: days to Glacier Instant Retrieval and to expiry, per bucket that has them,
   * and the smallest object the transition moves: the rule's `object_size_greater_than`, else S3's default
   * (`all_storage_classes_128K`: objects under 128 KB never transition;
   * https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-transition-general-considerations.html).
   */
  readonly lifecycles: {
    readonly bucketRef: string;
    readonly glacierIrAfterDays?: number;
    readonly expireAfterDays?: number;
    readonly transitionMinimumObjectBytes: number;
  }[];
  readonly instances: { readonly instanceType: string; readonly rootGiB: number; readonly volumeType: string }[];
  readonly publicIpv4: number;
  readonly kmsKeys: number;
  readonly secrets: number;
  readonly firehoseStreams: number;
  /** Each Firehose stream's S3 buffering: an object at most every `intervalSeconds`, or sooner at `sizeMiB`. */
  readonly firehoseBuffers: { readonly intervalSeconds: number; readonly sizeMiB: number }[];
  /** Schedules (EventBridge rules with a schedule expression), invocations a month each. */
  readonly schedules: { readonly name: string; readonly perMonth: number }[];
  readonly userPools: { readonly tier: string }[];
  readonly restApis: number;
  readonly httpApis: number;
  readonly webSocketApis: number;
  readonly sqsQueues: number;
  readonly fleetIndexing: { readonly connectivity: boolean; readonly shadow: boolean } | undefined;
  readonly iotLogLevel: string | undefined;
  readonly ecrRepositories: number;
  /** Rules that IoT policies let clients publish to directly (`$aws/rules/<rule>/...`, Basic Ingest). */
  readonly basicIngestRules: string[];
  /** Functions driven by a table's DynamoDB stream (cost/stream-consumers.ts). */
  readonly streamConsumers: StreamConsumerInfo[];
}

const MINUTES_PER_MONTH = 730 * 60;
/** S3's default lifecycle floor: no transition for objects under 128 KB (`transition_default_minimum_object_size`). */
const S3_TRANSITION_MINIMUM_BYTES = 128 * 1024;
/** Firehose's S3 buffering defaults (https://docs.aws.amazon.com/firehose/latest/dev/buffering-hints.html). */
const FIREHOSE_DEFAULT_BUFFER = { intervalSeconds: 300, sizeMiB: 5 };

/** Synthesizes every stack of `envName` offline into a temporary folder and reads them back. */
export function synthesizeStacks(envName: string): SynthesizedStacks {
  // Loaded lazily so the price model and chart can be used without the CDKTF app.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { App } = require("cdktf") as typeof import("cdktf");
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { loadConfig } = require("../config") as typeof import("../config");
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { defineStacks } = require("../main") as typeof import("../main");
  const outdir = mkdtempSync(join(tmpdir(), "cost-synth-"));
  try {
    const app = new App({ outdir });
    defineStacks(app, { config: loadConfig(envName), offline: true });
    app.synth();
    const manifest = JSON.parse(readFileSync(join(outdir, "manifest.json"), "utf8")) as { stacks: Record<string, { synthesizedStackPath: string }> };
    const stacks: Record<string, { resource?: Resources; data?: Resources }> = {};
    for (const [id, entry] of Object.entries(manifest.stacks)) {
      stacks[id] = JSON.parse(readFileSync(join(outdir, entry.synthesizedStackPath), "utf8"));
    }
    return stacks;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** Everything with a price, by walking the synthesized resources of every stack. */
export function inventoryOf(envName: string, stacks: SynthesizedStacks): Inventory {
  const all = <T = Record<string, unknown>>(type: string): { stack: string; name: string; r: T }[] =>
    Object.entries(stacks).flatMap(([stack, tf]) => Object.entries(tf.resource?.[type] ?? {}).map(([name, r]) => ({ stack, name, r: r as T })));
  const count = (type: string) => all(type).length;

  const alarms = all<{ period?: number; metric_query?: { metric?: unknown }[] }>("aws_cloudwatch_metric_alarm");
  let standard = 0;
  let highResolution = 0;
  for (const { r } of alarms) {
    const metrics = r.metric_query ? Math.max(1, r.metric_query.filter((q) => q.metric).length) : 1;
    if ((r.period ?? 60) < 60) highResolution += metrics;
    else standard += metrics;
  }

  const templates = all<{ block_device_mappings?: { ebs?: { volume_size?: number; volume_type?: string } }[]; instance_type?: string }>("aws_launch_template");
  const instances = all<{ instance_type?: string; launch_template?: unknown }>("aws_instance").map(({ stack, r }) => {
    const template = templates.find((t) => t.stack === stack)?.r;
    const ebs = template?.block_device_mappings?.[0]?.ebs;
    return {
      instanceType: r.instance_type ?? template?.instance_type ?? "unknown",
      rootGiB: Number(ebs?.volume_size ?? 8),
      volumeType: ebs?.volume_type ?? "gp3",
    };
  });

  const indexing = all<{ thing_indexing_configuration?: { thing_connectivity_indexing_mode?: string; thing_indexing_mode?: string } }>(
    "aws_iot_indexing_configuration",
  )[0];
  const logging = all<{ default_log_level?: string; disable_all_logs?: boolean }>("aws_iot_logging_options")[0];

  return {
    environment: envName,
    functions: all<{ function_name: string; memory_size?: number; architectures?: string[] }>("aws_lambda_function").map(({ r }) => ({
      name: r.function_name,
      memoryMiB: r.memory_size ?? 128,
      arm64: (r.architectures ?? []).includes("arm64"),
    })),
    topicRules: all<{ name: string; sql: string } & Record<string, unknown>>("aws_iot_topic_rule").map(({ stack, r }) =>
      ruleInfo(stack, r, stacks[stack].resource ?? {}),
    ),
    alarmMetrics: { standard, highResolution },
    alarmCount: alarms.length,
    dashboards: count("aws_cloudwatch_dashboard"),
    logGroups: all<{ name: string; retention_in_days?: number }>("aws_cloudwatch_log_group").map(({ r }) => ({
      name: r.name,
      retentionDays: r.retention_in_days ?? 0,
    })),
    tables: all<{ name: string; billing_mode?: string; point_in_time_recovery?: { enabled?: boolean }; ttl?: { attribute_name?: string } }>(
      "aws_dynamodb_table",
    ).map(({ r }) => ({
      name: r.name,
      onDemand: r.billing_mode === "PAY_PER_REQUEST",
      pitr: r.point_in_time_recovery?.enabled === true,
      ttlAttribute: r.ttl?.attribute_name,
    })),
    buckets: count("aws_s3_bucket"),
    lifecycles: all<{
      bucket: string;
      rule: {
        transition?: { days?: number; storage_class?: string }[];
        expiration?: { days?: number }[];
        filter?: { object_size_greater_than?: number }[];
        status?: string;
      }[];
    }>("aws_s3_bucket_lifecycle_configuration").map(({ r }) => {
      const enabled = r.rule.filter((rule) => rule.status !== "Disabled");
      const glacierRule = enabled.find((rule) => (rule.transition ?? []).some((t) => t.storage_class === "GLACIER_IR"));
      const glacier = glacierRule?.transition?.find((t) => t.storage_class === "GLACIER_IR");
      const expiry = enabled.flatMap((rule) => rule.expiration ?? []).find((e) => typeof e.days === "number");
      const sizeFilter = glacierRule?.filter?.find((f) => typeof f.object_size_greater_than === "number")?.object_size_greater_than;
      return {
        bucketRef: r.bucket,
        glacierIrAfterDays: glacier?.days,
        expireAfterDays: expiry?.days,
        transitionMinimumObjectBytes: sizeFilter ?? S3_TRANSITION_MINIMUM_BYTES,
      };
    }),
    instances,
    publicIpv4: count("aws_eip"),
    kmsKeys: count("aws_kms_key"),
    secrets: count("aws_secretsmanager_secret"),
    firehoseStreams: count("aws_kinesis_firehose_delivery_stream"),
    firehoseBuffers: all<{ extended_s3_configuration?: { buffering_interval?: number; buffering_size?: number } }>("aws_kinesis_firehose_delivery_stream").map(
      ({ r }) => ({
        intervalSeconds: r.extended_s3_configuration?.buffering_interval ?? FIREHOSE_DEFAULT_BUFFER.intervalSeconds,
        sizeMiB: r.extended_s3_configuration?.buffering_size ?? FIREHOSE_DEFAULT_BUFFER.sizeMiB,
      }),
    ),
    schedules: all<{ name: string; schedule_expression?: string }>("aws_cloudwatch_event_rule")
      .filter(({ r }) => r.schedule_expression)
      .map(({ r }) => ({ name: r.name, perMonth: schedulePerMonth(r.schedule_expression!) })),
    userPools: all<{ user_pool_tier?: string }>("aws_cognito_user_pool").map(({ r }) => ({ tier: r.user_pool_tier ?? "ESSENTIALS" })),
    restApis: count("aws_api_gateway_rest_api"),
    httpApis: all<{ protocol_type?: string }>("aws_apigatewayv2_api").filter(({ r }) => r.protocol_type === "HTTP").length,
    webSocketApis: all<{ protocol_type?: string }>("aws_apigatewayv2_api").filter(({ r }) => r.protocol_type === "WEBSOCKET").length,
    sqsQueues: count("aws_sqs_queue"),
    fleetIndexing: indexing
      ? {
          connectivity: (indexing.r.thing_indexing_configuration?.thing_connectivity_indexing_mode ?? "OFF") !== "OFF",
          shadow: (indexing.r.thing_indexing_configuration?.thing_indexing_mode ?? "").includes("SHADOW"),
        }
      : undefined,
    iotLogLevel: logging && !logging.r.disable_all_logs ? logging.r.default_log_level : undefined,
    ecrRepositories: count("aws_ecr_repository"),
    basicIngestRules: basicIngestRules(stacks),
    streamConsumers: Object.values(stacks).flatMap((tf) => streamConsumersOf(tf.resource ?? {})),
  };
}

const ACTION_TYPES = [
  "lambda",
  "dynamodbv2",
  "dynamodb",
  "firehose",
  "cloudwatch_logs",
  "cloudwatch_metric",
  "sns",
  "sqs",
  "republish",
  "s3",
  "kinesis",
  "step_functions",
  "http",
  "timestream",
];

function ruleInfo(stack: string, r: { name: string; sql: string } & Record<string, unknown>, resources: Resources): TopicRuleInfo {
  const from = /\bFROM\s+'([^']*)'/i.exec(r.sql)?.[1] ?? "";
  // A target in the same stack is a Terraform reference (`${aws_dynamodb_table.<id>.name}`): resolve it to the name.
  const resolve = (value: unknown): string | undefined => {
    if (typeof value !== "string") return undefined;
    const ref = /^\$\{(aws_[a-z0-9_]+)\.([^.}]+)\.[a-z_]+\}$/.exec(value);
    const target = ref ? resources[ref[1]]?.[ref[2]] : undefined;
    return target ? String(target.function_name ?? target.name ?? value) : value;
  };
  const actions = ACTION_TYPES.flatMap((type) =>
    ((r[type] as Record<string, unknown>[] | undefined) ?? []).map((a) => ({
      type,
      target: resolve(
        a.function_arn ?? a.table_name ?? (a.put_item as { table_name?: string } | undefined)?.table_name ?? a.delivery_stream_name ?? a.log_group_name,
      ),
    })),
  );
  return { stack, name: r.name, from, hasWhere: /\bWHERE\b/i.test(r.sql), actions };
}

/** Invocations a month of an EventBridge schedule: rate(N unit) or a cron with fixed minute/hour fields. */
export function schedulePerMonth(expression: string): number {
  const rate = /^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (rate) {
    const every = Number(rate[1]) * (rate[2].startsWith("minute") ? 1 : rate[2].startsWith("hour") ? 60 : 1440);
    return Math.round(MINUTES_PER_MONTH / every);
  }
  const cron = /^cron\((\S+) (\S+) (\S+) (\S+) (\S+)(?: (\S+))?\)$/.exec(expression);
  if (cron) {
    const perField = (field: string, range: number) =>
      field === "*" ? range : field.startsWith("*/") ? Math.ceil(range / Number(field.slice(2))) : field.split(",").length;
    const perDay = perField(cron[1], 60) * perField(cron[2], 24);
    const daysPerMonth =
      cron[3] === "*" || cron[3] === "?" ? (cron[5] === "*" || cron[5] === "?" ? 30.42 : (perField(cron[5], 7) * 30.42) / 7) : cron[3].split(",").length;
    return Math.round(perDay * daysPerMonth);
  }
  throw new Error(`schedule "${expression}" is neither rate(...) nor cron(...): the cost model cannot count its invocations`);
}

/** Rule names in `iot:Publish` grants on `topic/$aws/rules/<rule>/...` of any policy document. */
function basicIngestRules(stacks: SynthesizedStacks): string[] {
  const rules = new Set<string>();
  for (const tf of Object.values(stacks)) {
    for (const doc of Object.values(tf.data?.aws_iam_policy_document ?? {})) {
      for (const statement of (doc.statement as { actions?: string[]; resources?: string[]; effect?: string }[] | undefined) ?? []) {
        if (statement.effect === "Deny" || !(statement.actions ?? []).includes("iot:Publish")) continue;
        for (const resource of statement.resources ?? []) {
          const match = /:topic\/\$aws\/rules\/([^/*]+)\//.exec(resource);
          if (match) rules.add(match[1]);
        }
      }
    }
  }
  return [...rules].sort();
}
