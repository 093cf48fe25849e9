/**
 * The twin's DynamoDB streams and the event source mappings that read them, built from what the stacks
 * synthesize (synthesized-mappings.ts): one {@link TableStream} per streamed table that a mapping reads,
 * one {@link EventSourceMapping} per enabled mapping, invoking the real handler through the twin's
 * function runner; given-up batches go to the runner's on-failure queues (local/async-failures.ts).
 *
 * Tables the twin itself writes (`tapped`: the rules engine's DynamoDBv2 targets, e.g. the insert-only
 * hot telemetry table) get their records from the writer ({@link TwinStreams.tap}); a Scan per poll of a
 * table that grows by every reading would not scale. Every other table is watched by Scan (the registry,
 * written by several functions). See table-stream.ts for what either way does not reproduce.
 */
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { FunctionName, LocalFunctions } from "../functions";
import { EventSourceMapping } from "./event-source-mapping";
import type { SynthesizedStreamMapping } from "./synthesized-mappings";
import { TableStream, type Image } from "./table-stream";

export interface TwinStreamsOptions {
  readonly mappings: readonly SynthesizedStreamMapping[];
  readonly dynamodb: DynamoDBClient;
  readonly functions: LocalFunctions;
  /** Physical function name -> the handler the twin runs. */
  readonly hosted: Readonly<Record<string, FunctionName>>;
  /** Tables whose writes the twin's own writer reports. */
  readonly tapped: ReadonlySet<string>;
  readonly region: string;
  readonly accountId: string;
  /** Scan interval of watched tables. @default 500 */
  readonly scanIntervalMs?: number;
  /** @default 100 */
  readonly pollIntervalMs?: number;
  readonly note: (text: string) => void;
}

export class TwinStreams {
  static async start(options: TwinStreamsOptions): Promise<TwinStreams> {
    const streams = new TwinStreams(options);
    try {
      await streams.open();
    } catch (error) {
      await streams.close();
      throw error;
    }
    return streams;
  }

  private readonly streams = new Map<string, TableStream>();
  private readonly mappings: EventSourceMapping[] = [];

  private constructor(private readonly options: TwinStreamsOptions) {}

  /** The emulated stream of a table (undefined when no mapping reads it). */
  stream(tableName: string): TableStream | undefined {
    return this.streams.get(tableName);
  }

  /** The twin's writer reports a PutItem on a tapped table (`before` = the ALL_OLD answer). */
  tap(tableName: string, before: Image | undefined, after: Image): void {
    if (this.options.tapped.has(tableName)) this.streams.get(tableName)?.tap(before, after);
  }

  /** Whether writes to `tableName` should be reported with {@link TwinStreams.tap}. */
  isTapped(tableName: string): boolean {
    return this.options.tapped.has(tableName) && this.streams.has(tableName);
  }

  /** Scan the watched tables now and deliver every record on every stream, ignoring batching windows. */
  async drain(): Promise<void> {
    for (const stream of this.streams.values()) await stream.pollNow();
    for (const mapping of this.mappings) await mapping.drain();
  }

  async close(): Promise<void> {
    await Promise.all(this.mappings.map((m) => m.close()));
    await Promise.all([...this.streams.values()].map((s) => s.close()));
  }

  private async open(): Promise<void> {
    const o = this.options;
    for (const m of o.mappings) {
      const handler = Object.prototype.hasOwnProperty.call(o.hosted, m.functionName) ? o.hosted[m.functionName] : undefined;
      if (!m.enabled || !handler) {
        o.note(`${m.key}: ${m.enabled ? `${m.functionName} is not run by the twin` : "disabled"}; its stream is not read`);
        continue;
      }
      let stream = this.streams.get(m.tableName);
      if (!stream) {
        stream = new TableStream(m, o);
        this.streams.set(m.tableName, stream);
        if (!o.tapped.has(m.tableName)) await stream.watch(o.dynamodb, o.scanIntervalMs ?? 500, o.note);
      }
      const functionArn = `arn:aws:lambda:${o.region}:${o.accountId}:function:${m.functionName}`;
      const mapping = new EventSourceMapping({
        mapping: m,
        stream,
        functionArn,
        invoke: (event) => o.functions.invoke(handler, event),
        onFailure: (queue, record) => o.functions.asyncFailures.send(queue, record),
        pollIntervalMs: o.pollIntervalMs,
        note: (text) => o.note(`${m.tableName} -> ${handler}: ${text}`),
      });
      this.mappings.push(mapping.start());
      const how = o.tapped.has(m.tableName) ? "writes tapped" : "scanned";
      o.note(`${m.tableName} stream (${m.streamViewType}, ${how}) -> ${handler}: batch ${m.batchSize}, window ${m.batchingWindowSeconds} s`);
    }
  }
}
