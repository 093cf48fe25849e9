/**
 * One `aws_lambda_event_source_mapping` on a DynamoDB stream, as the twin runs it: reads the twin's
 * {@link TableStream} from its own checkpoint and invokes the function with `{ Records }` batches, applying
 * the synthesized settings the way Lambda does
 * (https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html, .../services-ddb-batchfailurereporting.html):
 *
 * - filter criteria: records no pattern matches are skipped (checkpointed, never sent);
 * - a batch is sent once `batchSize` matching records wait, or the oldest has waited the batching window;
 * - ReportBatchItemFailures: records before the lowest failed `itemIdentifier` are done, the batch is
 *   retried from it; an identifier that is not a sequence number of the batch fails the whole batch;
 * - a function error retries the batch; with bisect on error it is split in two first (each half retried
 *   on its own, the failing invocation that causes a split not counted as a retry);
 * - past `maximumRetryAttempts` retries, or once a record is older than `maximumRecordAgeSeconds`, the
 *   records are given up: an on-failure record describing them (`DDBStreamBatchInfo`, not the records)
 *   goes to the on-failure queue, and the shard moves on. A failing batch blocks the shard meanwhile.
 *
 * Not faithful: one shard and one batch in flight (parallelization factor 1), retries come at the next
 * poll (`pollIntervalMs`) instead of Lambda's backoff, the 6 MB payload limit is not applied.
 */
import { randomUUID } from "node:crypto";
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from "aws-lambda";
import { compileFilterCriteria } from "./filter-pattern";
import type { StreamEntry, TableStream } from "./table-stream";
import type { SynthesizedStreamMapping } from "./synthesized-mappings";

/** What Lambda sends to a stream mapping's on-failure destination (the records stay on the stream). */
export interface StreamOnFailureRecord {
  readonly version: "1.0";
  readonly timestamp: string;
  readonly requestContext: {
    readonly requestId: string;
    readonly functionArn: string;
    readonly condition: "RetryAttemptsExhausted" | "RecordAgeExceeded";
    readonly approximateInvokeCount: number;
  };
  readonly responseContext: { readonly statusCode: 200; readonly executedVersion: "$LATEST"; readonly functionError: "Unhandled" | "" };
  readonly DDBStreamBatchInfo: {
    readonly shardId: string;
    readonly startSequenceNumber: string;
    readonly endSequenceNumber: string;
    readonly approximateArrivalOfFirstRecord: string;
    readonly approximateArrivalOfLastRecord: string;
    readonly batchSize: number;
    readonly streamArn: string;
  };
}

export type MappingSettings = Omit<SynthesizedStreamMapping, "key" | "tableName" | "hashKey" | "rangeKey" | "streamViewType" | "enabled">;

export interface EventSourceMappingOptions {
  readonly mapping: MappingSettings;
  readonly stream: TableStream;
  /** A synchronous invocation of the function; throws on a function error. */
  readonly invoke: (event: DynamoDBStreamEvent) => Promise<unknown>;
  /** Sends an on-failure record to the mapping's queue. */
  readonly onFailure: (queueName: string, record: StreamOnFailureRecord) => void;
  readonly functionArn: string;
  /** @default 100 */
  readonly pollIntervalMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
  readonly note?: (text: string) => void;
}

interface Batch {
  entries: StreamEntry[];
  /** Invocations of these records that failed and count as retries. */
  failures: number;
}

export class EventSourceMapping {
  private readonly matches: (record: unknown) => boolean;
  /** Next position on the shard to read. */
  private cursor: number;
  /** Batches under retry (after a split, in shard order); the shard does not move past them. */
  private pending: Batch[] = [];
  /** Where the cursor goes once the pending batches are done. */
  private pendingEnd = 0;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private readonly now: () => number;

  constructor(private readonly options: EventSourceMappingOptions) {
    this.matches = compileFilterCriteria(options.mapping.filterPatterns);
    this.now = options.now ?? Date.now;
    // TRIM_HORIZON: every record on the twin's shard (it starts with the twin); LATEST: from now on.
    this.cursor = options.mapping.startingPosition === "LATEST" ? options.stream.end : 0;
    options.stream.checkpoint(this, this.cursor);
  }

  start(): this {
    this.timer = setInterval(() => void this.poll(), this.options.pollIntervalMs ?? 100);
    this.timer.unref();
    return this;
  }

  /** One step now (what the timer runs): at most one invocation. */
  poll(ignoreWindow = false): Promise<void> {
    this.running ??= this.step(ignoreWindow)
      .catch((error: unknown) => this.options.note?.(`mapping step failed: ${(error as Error).message}`))
      .finally(() => (this.running = undefined));
    return this.running;
  }

  /**
   * Resolves once every record on the shard was handled (sent, given up or filtered out), ignoring the
   * batching window; or, when retries are unlimited, at the first failed retry (the batch blocks the
   * shard until it succeeds or ages out, as on AWS; the timer keeps retrying it).
   */
  async drain(): Promise<void> {
    while (this.pending.length > 0 || this.cursor < this.options.stream.end) {
      const failuresBefore = this.pending[0]?.failures ?? 0;
      await this.poll(true);
      const stillFailing = this.pending[0] !== undefined && this.pending[0].failures > failuresBefore;
      if (stillFailing && this.options.mapping.maximumRetryAttempts < 0) return;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  private async step(ignoreWindow = false): Promise<void> {
    if (this.pending.length === 0 && !this.gather(ignoreWindow)) return;
    const batch = this.pending[0]!;
    const { mapping } = this.options;
    if (mapping.maximumRecordAgeSeconds >= 0) {
      const oldest = this.now() - mapping.maximumRecordAgeSeconds * 1000;
      const expired = batch.entries.filter((e) => e.arrival < oldest);
      if (expired.length > 0) {
        this.giveUp(expired, "RecordAgeExceeded", batch.failures);
        batch.entries = batch.entries.slice(expired.length);
        if (batch.entries.length === 0) return this.done();
      }
    }
    const records = batch.entries.map((e) => e.record);
    let failedFrom: number;
    try {
      const response = (await this.options.invoke({ Records: records })) as DynamoDBBatchResponse | undefined;
      failedFrom = mapping.reportBatchItemFailures ? this.firstFailure(batch, response) : batch.entries.length;
    } catch (error) {
      this.options.note?.(`${records.length} records: function error: ${(error as Error).message}`);
      if (mapping.bisectOnError && batch.entries.length > 1) {
        const half = Math.ceil(batch.entries.length / 2);
        this.pending.splice(
          0,
          1,
          { entries: batch.entries.slice(0, half), failures: batch.failures },
          { entries: batch.entries.slice(half), failures: batch.failures },
        );
        return;
      }
      failedFrom = 0;
    }
    if (failedFrom >= batch.entries.length) return this.done();
    batch.entries = batch.entries.slice(failedFrom);
    batch.failures++;
    if (mapping.maximumRetryAttempts >= 0 && batch.failures > mapping.maximumRetryAttempts) {
      this.giveUp(batch.entries, "RetryAttemptsExhausted", batch.failures);
      this.done();
    }
  }

  /** Reads the next batch of matching records; false when there is nothing to send yet. */
  private gather(ignoreWindow: boolean): boolean {
    const { stream, mapping } = this.options;
    const entries: StreamEntry[] = [];
    let position = this.cursor;
    for (const entry of stream.read(this.cursor)) {
      if (entries.length === mapping.batchSize) break;
      position = entry.position + 1;
      if (this.matches(entry.record)) entries.push(entry);
    }
    if (entries.length === 0) {
      this.checkpoint(position);
      return false;
    }
    const waited = this.now() - entries[0]!.arrival;
    if (!ignoreWindow && entries.length < mapping.batchSize && waited < mapping.batchingWindowSeconds * 1000) return false;
    this.pending = [{ entries, failures: 0 }];
    this.pendingEnd = position;
    return true;
  }

  /** Index of the first record to retry from a ReportBatchItemFailures answer. */
  private firstFailure(batch: Batch, response: DynamoDBBatchResponse | undefined): number {
    const failures = response?.batchItemFailures ?? [];
    if (failures.length === 0) return batch.entries.length;
    const sequences = batch.entries.map((e) => e.record.dynamodb?.SequenceNumber);
    const indexes = failures.map((f) => sequences.indexOf(f.itemIdentifier));
    if (indexes.some((i) => i < 0)) {
      this.options.note?.(`an itemIdentifier is not a sequence number of the batch: the whole batch fails`);
      return 0;
    }
    return Math.min(...indexes);
  }

  private done(): void {
    this.pending.shift();
    if (this.pending.length === 0) this.checkpoint(this.pendingEnd);
  }

  private checkpoint(position: number): void {
    this.cursor = position;
    this.options.stream.checkpoint(this, position);
  }

  private giveUp(entries: readonly StreamEntry[], condition: StreamOnFailureRecord["requestContext"]["condition"], failures: number): void {
    const { mapping, stream } = this.options;
    const first = entries[0]!;
    const last = entries[entries.length - 1]!;
    this.options.note?.(`${entries.length} records given up (${condition}) after ${failures} failed invocations`);
    if (!mapping.onFailureQueue) return;
    this.options.onFailure(mapping.onFailureQueue, {
      version: "1.0",
      timestamp: new Date(this.now()).toISOString(),
      requestContext: { requestId: randomUUID(), functionArn: this.options.functionArn, condition, approximateInvokeCount: failures },
      responseContext: { statusCode: 200, executedVersion: "$LATEST", functionError: failures > 0 ? "Unhandled" : "" },
      DDBStreamBatchInfo: {
        shardId: stream.shardId,
        startSequenceNumber: first.record.dynamodb!.SequenceNumber!,
        endSequenceNumber: last.record.dynamodb!.SequenceNumber!,
        approximateArrivalOfFirstRecord: new Date(first.arrival).toISOString(),
        approximateArrivalOfLastRecord: new Date(last.arrival).toISOString(),
        batchSize: entries.length,
        streamArn: stream.streamArn,
      },
    });
  }
}
