/**
 * The twin's topic rules: every `aws_iot_topic_rule` the stacks synthesize, run by the rules engine in
 * `rules/` on what devices publish, with their actions on the twin's stand-ins:
 *
 * - messages reach the engine through an MQTT subscription to every rule's `FROM` filter, with the
 *   twin-service identity on the IoT front end (persistent session: messages published while mosquitto
 *   restarts still arrive); Basic Ingest messages (`$aws/rules/<rule>/...`, e.g. the Pis' telemetry)
 *   come from the front end straight to their rule, as on AWS they never pass the broker;
 * - lifecycle events come from the front end; each is published on `$aws/events/presence/...` and
 *   dispatched to the engine, as AWS IoT does ({@link LifecycleRule});
 * - Lambda actions invoke the real handlers through the twin's function runner (async, retried);
 *   DynamoDB actions write to dynalite (tables created from the synthesized definitions); Firehose
 *   delivers to s3rver (started here, files in `<workDir>/s3`) in Firehose's layout; CloudWatch Logs
 *   actions append to `<workDir>/logs/<log group>.log`.
 *
 * ```ts
 * const rules = await TwinRules.start({ iot, functions, dynamodb: db.client, names, config, workDir, counters, note });
 * await rules.idle();
 * await rules.close();
 * ```
 */
import * as path from "node:path";
import { mqtt5 } from "aws-iot-device-sdk-v2";
import { CreateTableCommand, ResourceInUseException, type DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { EnvironmentConfig } from "../config";
import type { resourceNames } from "../stacks/shared/naming";
import type { FunctionName, LocalFunctions } from "./functions";
import { TWIN_SERVICE_IDENTITY } from "./iot-core/stack-identities";
import { hostedFunctions } from "./twin-functions";
import { LifecycleRule, lifecycleTopic } from "./lifecycle";
import { TwinRuleTargets, type RuleTargets, type TwinRuleTargetsOptions } from "./rules/actions";
import { RulesEngine, type RuleMatch } from "./rules/engine";
import { LocalFirehose } from "./rules/firehose";
import type { SqlValue } from "./rules/sql";
import type { SynthesizedDeliveryStream, SynthesizedTable } from "./rules/synthesized-rules";
import { startS3Server, type S3Server } from "./s3-server";
import type { TwinIotCore } from "./twin-iot";

/** Client id of the rules engine's connection (the service policy allows `local-twin-service*`). */
const RULES_CLIENT_ID = `${TWIN_SERVICE_IDENTITY}-rules`;

/** What the twin counts of the rules. */
export interface RuleCounters {
  /** Messages the errors rule matched. */
  errorsRouted: number;
  /** Rows written to the hot telemetry table by a rule. */
  telemetryStored: number;
  /** Alerts the alert handler sent for a threshold crossing (the stream consumer's invocations through the Lambda stand-in). */
  thresholdAlerts: number;
  /** Threshold crossings the alert handler suppressed (same breach within its cooldown); see thresholdAlerts. */
  thresholdSuppressed: number;
  /** Actions that failed (their error action ran). */
  ruleActionFailures: number;
  /** Lambda actions on functions the stacks define but the twin does not run (e.g. the WebSocket broadcaster). */
  unhostedInvocations: number;
}

export interface TwinRulesOptions {
  readonly iot: TwinIotCore;
  readonly functions: LocalFunctions;
  /** A client on the twin's dynalite. */
  readonly dynamodb: DynamoDBClient;
  readonly config: EnvironmentConfig;
  readonly names: ReturnType<typeof resourceNames>;
  readonly workDir: string;
  /** Firehose buffer flush interval. @default 1000 */
  readonly firehoseFlushIntervalMs?: number;
  readonly counters: RuleCounters;
  readonly note: (tag: string, text: string) => void;
  /** The emulated streams the DynamoDB action reports its writes to (local/streams/twin-streams.ts). */
  readonly streams?: TwinRuleTargetsOptions["streams"];
}

export class TwinRules {
  static async start(options: TwinRulesOptions): Promise<TwinRules> {
    const topicRules = options.iot.synthesized.topicRules;
    const used = topicRules.rules.flatMap((r) => [...r.actions, ...(r.errorAction ? [r.errorAction] : [])]);
    // The tables and buckets the rules write to exist as the stacks define them.
    for (const tableName of new Set(used.flatMap((a) => (a.type === "dynamodbv2" ? [a.tableName] : [])))) {
      const table = topicRules.tables.get(tableName);
      if (table) await createSynthesizedTable(options.dynamodb, table);
    }
    // Every delivery stream: the rules' Firehose actions and the functions (AWS_ENDPOINT_URL_FIREHOSE) write them.
    const streams = topicRules.deliveryStreams;
    const s3 = await startS3Server({
      directory: path.join(options.workDir, "s3"),
      buckets: [...new Set([...streams.values()].map((s) => s.bucketName))],
      region: options.config.region,
    });
    try {
      const client = await options.iot.connect(TWIN_SERVICE_IDENTITY, RULES_CLIENT_ID, 3600);
      return await new TwinRules(options, s3, streams, client).subscribe();
    } catch (err) {
      await s3.close();
      throw err;
    }
  }

  readonly engine: RulesEngine;
  /** The twin's Firehose (also behind the Firehose API stand-in, local/firehose-api.ts). */
  readonly firehose: LocalFirehose;
  private readonly lifecycle: LifecycleRule;
  /** The stream consumer's threshold payloads, to recognise the alert handler's invocations they caused. */
  private readonly thresholdOutputs = new WeakSet<object>();
  private readonly unhostedNoted = new Set<string>();
  private readonly stopBasicIngest: () => void;
  /** Physical function name -> the handler the twin runs (built once, not per rule action). */
  private readonly hosted: ReturnType<typeof hostedFunctions>;

  private constructor(
    private readonly options: TwinRulesOptions,
    /** The twin's S3 (the warm store's bucket). */
    readonly s3: S3Server,
    streams: ReadonlyMap<string, SynthesizedDeliveryStream>,
    private readonly client: Awaited<ReturnType<TwinIotCore["connect"]>>,
  ) {
    const { names, counters, note } = options;
    this.hosted = hostedFunctions(names);
    const topicRules = options.iot.synthesized.topicRules;
    this.firehose = new LocalFirehose({
      s3: s3.client,
      streams,
      flushIntervalMs: options.firehoseFlushIntervalMs ?? 1000,
      onDeliveryError: (stream, error) => note("firehose", `${stream}: delivery to S3 failed, will retry: ${error.message}`),
    });
    const targets = new TwinRuleTargets({
      dynamodb: options.dynamodb,
      firehose: this.firehose,
      logDir: path.join(options.workDir, "logs"),
      logGroups: topicRules.logGroups,
      invokeLambda: (functionName, event) => this.invokeLambda(functionName, event, topicRules.functionNames),
      streams: options.streams,
    });
    const storeTable = names.telemetryTable;
    const counting: RuleTargets = {
      invokeLambda: (functionName, event) => targets.invokeLambda(functionName, event),
      putItem: async (tableName, item) => {
        await targets.putItem(tableName, item);
        if (tableName === storeTable) counters.telemetryStored++;
      },
      putRecord: (stream, data) => targets.putRecord(stream, data),
      putLogEvent: (group, message, timestamp) => targets.putLogEvent(group, message, timestamp),
    };
    this.engine = new RulesEngine({ rules: topicRules.rules, targets: counting });

    this.engine.on("matched", (m) => {
      if (m.rule === names.errorsRule) {
        counters.errorsRouted++;
        note("rules", `${m.rule}: ${m.topic} -> ${describe(m.output)}`);
      }
    });
    this.engine.on("action-failed", (f) => {
      counters.ruleActionFailures++;
      const then = f.errorActionFailed ? `; error action failed too: ${f.errorActionFailed}` : " (error action ran)";
      note("rules", `${f.rule}: ${f.action.type} action FAILED: ${f.error}${then}`);
    });
    options.functions.on("invoked", (inv) => {
      const result = inv.result as { status?: string } | undefined;
      if (inv.functionName !== "alert-handler" || !this.thresholdOutputs.has(inv.event as object)) return;
      if (result?.status === "sent") counters.thresholdAlerts++;
      else if (result?.status === "suppressed") counters.thresholdSuppressed++;
    });

    this.engine.on("dropped", (d) => note("rules", `Basic Ingest message on ${d.topic} for ${d.rule} dropped: ${d.reason}`));
    this.stopBasicIngest = options.iot.onBasicIngest((m) => void this.engine.dispatchToRule(m));

    this.lifecycle = new LifecycleRule({
      source: (listener) => options.iot.onLifecycle(listener),
      // The twin's own service clients have no counterpart on AWS: published, never given to the rules.
      isTwinClient: (clientId) => clientId.startsWith(TWIN_SERVICE_IDENTITY),
      deliver: (event) => void this.engine.dispatch(lifecycleTopic(event), Buffer.from(JSON.stringify(event)), { clientId: event.clientId }),
      publish: (topic, event) => client.publish(topic, event, mqtt5.QoS.AtMostOnce),
    });
  }

  /**
   * The stream consumer checks the thresholds (instead of a threshold rule) and invokes the alert handler
   * through the Lambda API: a device-error payload with the thresholds' code counts like a rule's.
   */
  countAsThreshold(handler: FunctionName, event: unknown): void {
    const code = (event as { code?: unknown } | null)?.code;
    if (handler === "alert-handler" && typeof code === "string" && code.startsWith("TELEMETRY_THRESHOLD.")) this.thresholdOutputs.add(event as object);
  }

  private async subscribe(): Promise<this> {
    // `$aws/events/...` are AWS's own events: the twin produces them (above), nobody publishes them.
    const filters = this.engine.topicFilters.filter((f) => !f.startsWith("$aws/events/"));
    this.client.onMessage((topic, payload) => void this.engine.dispatch(topic, payload));
    if (filters.length > 0) await this.client.subscribe(filters);
    this.options.note("twin", `topic rules from the stacks: ${this.engine.ruleNames.join(", ")} (subscribed to ${filters.join(", ")})`);
    return this;
  }

  /**
   * Each reading the telemetry store rule took in, Basic Ingest or the plain topic alike: the twin's
   * view of telemetry now that devices publish where nobody can subscribe (the console's sparklines).
   */
  onStoredReading(listener: (reading: { readonly thingName: string; readonly metrics: unknown }) => void): () => void {
    const storeRule = this.options.names.telemetryStoreRule;
    const onMatch = (m: RuleMatch): void => {
      if (m.rule !== storeRule || m.output === null || typeof m.output !== "object" || Buffer.isBuffer(m.output)) return;
      const { thingName, metrics } = m.output as Record<string, SqlValue>;
      if (typeof thingName === "string") listener({ thingName, metrics });
    };
    this.engine.on("matched", onMatch);
    return () => this.engine.off("matched", onMatch);
  }

  /** Resolve when no dispatched message is still running actions and Firehose has delivered its buffer. */
  async idle(): Promise<void> {
    await this.engine.idle();
    await this.firehose.flush();
  }

  /** Stop handling lifecycle events, deliver Firehose's buffer and stop S3 (the MQTT client closes with the IoT core). */
  async close(): Promise<void> {
    this.stopBasicIngest();
    this.lifecycle.close();
    await this.engine.idle();
    await this.firehose.close();
    await this.s3.close();
  }

  private invokeLambda(functionName: string, event: Record<string, SqlValue>, defined: ReadonlySet<string>): void {
    const route = routeLambda(functionName, this.hosted, defined, this.options.config);
    if (route.kind === "hosted") {
      this.options.functions.invokeAsync(route.handler, event);
      return;
    }
    // Defined by a stack, not run by the twin (it needs a service the twin lacks): not a rule failure.
    this.options.counters.unhostedInvocations++;
    if (!this.unhostedNoted.has(functionName)) this.options.note("rules", `${functionName} is not run by the twin; its invocations are counted and dropped`);
    this.unhostedNoted.add(functionName);
  }
}

/**
 * Where a rule's Lambda action goes: a handler the twin runs, a function a stack defines that the twin
 * does not run, or — a function no stack defines — AWS's "function not found" (the action fails).
 */
export function routeLambda(
  functionName: string,
  hosted: Readonly<Record<string, FunctionName>>,
  defined: ReadonlySet<string>,
  where: Pick<EnvironmentConfig, "region" | "accountId">,
): { kind: "hosted"; handler: FunctionName } | { kind: "unhosted" } {
  const handler = Object.prototype.hasOwnProperty.call(hosted, functionName) ? hosted[functionName] : undefined;
  if (handler) return { kind: "hosted", handler };
  if (defined.has(functionName)) return { kind: "unhosted" };
  throw new Error(`ResourceNotFoundException: Function not found: arn:aws:lambda:${where.region}:${where.accountId}:function:${functionName}`);
}

/** Creates a table with the synthesized key schema (on demand); an existing table is left as it is. */
export async function createSynthesizedTable(client: DynamoDBClient, table: SynthesizedTable): Promise<void> {
  const keys = [table.hashKey, ...(table.rangeKey ? [table.rangeKey] : [])];
  try {
    await client.send(
      new CreateTableCommand({
        TableName: table.tableName,
        BillingMode: "PAY_PER_REQUEST",
        AttributeDefinitions: keys.map((k) => ({ AttributeName: k, AttributeType: (table.attributes[k] ?? "S") as "S" })),
        KeySchema: keys.map((k, i) => ({ AttributeName: k, KeyType: i === 0 ? "HASH" : "RANGE" })),
      }),
    );
  } catch (err) {
    if (!(err instanceof ResourceInUseException)) throw err;
  }
}

function describe(output: SqlValue | Buffer): string {
  if (Buffer.isBuffer(output)) return `${output.length} bytes`;
  const o = output as Record<string, SqlValue>;
  return [o.thingName, o.code, o.message].filter((x) => x !== undefined).join(" ");
}
