/**
 * Kinesis Data Firehose to S3 as the twin runs it: records are buffered per delivery stream and written
 * to the local S3 stand-in in Firehose's layout — the stream's `prefix` with its `!{timestamp:...}`
 * expressions evaluated on each record's arrival time (UTC), objects named
 * `<prefix><stream>-<version>-<yyyy>-<MM>-<dd>-<HH>-<mm>-<ss>-<random>[<fileExtension>]`, records
 * concatenated as they came (the IoT action adds the separator), GZIP when configured.
 *
 * Differences: the buffer is flushed every `flushIntervalMs` (Firehose: `buffering_interval`, at least
 * 60 s, or `buffering_size`) so a developer sees files at once; the stream version is always 1; the error
 * prefix is validated but unused (Firehose writes there only for failed transformation or dynamic
 * partitioning, neither of which the twin accepts — see synthesized-rules.ts).
 *
 * ```ts
 * const firehose = new LocalFirehose({ s3: s3.client, streams: topicRules.deliveryStreams, flushIntervalMs: 1000 });
 * firehose.putRecord("shf-dev-telemetry", Buffer.from('{"a":1}\n'));
 * await firehose.flush();     // objects written
 * ```
 */
import { randomUUID } from "node:crypto";
import { promisify } from "node:util";
import { gzip } from "node:zlib";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { SynthesizedDeliveryStream } from "./synthesized-rules";

const gzipAsync = promisify(gzip);

/** Firehose's `!{timestamp:...}` patterns (Java DateTimeFormatter letters) the twin evaluates. */
const TIMESTAMP_FIELDS: Record<string, (d: Date) => string> = {
  yyyy: (d) => String(d.getUTCFullYear()),
  MM: (d) => pad(d.getUTCMonth() + 1),
  dd: (d) => pad(d.getUTCDate()),
  HH: (d) => pad(d.getUTCHours()),
  mm: (d) => pad(d.getUTCMinutes()),
  ss: (d) => pad(d.getUTCSeconds()),
};
const EXPRESSION = /!\{([A-Za-z-]+):([^}]*)\}/g;

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

/** A Firehose-style error: the IoT action reports it as the action's failure. */
export class FirehoseError extends Error {}

/**
 * Evaluates a prefix's expressions for an arrival time. `errorOutputType` fills
 * `!{firehose:error-output-type}`, which only an error prefix may use. Throws on anything else.
 */
export function expandPrefix(prefix: string, arrival: Date, errorOutputType?: string): string {
  const expanded = prefix.replace(EXPRESSION, (whole, namespace: string, value: string) => {
    if (namespace === "timestamp") {
      // A pattern like `yyyy-MM-dd` is letters runs separated by literals.
      return value.replace(/([A-Za-z])\1*/g, (run) => {
        const field = TIMESTAMP_FIELDS[run];
        if (!field) throw new FirehoseError(`prefix ${prefix}: timestamp pattern '${run}' is not supported by the twin`);
        return field(arrival);
      });
    }
    if (namespace === "firehose" && value === "error-output-type" && errorOutputType !== undefined) return errorOutputType;
    if (namespace === "firehose" && value === "random-string") return randomUUID().slice(0, 11);
    throw new FirehoseError(`prefix ${prefix}: ${whole} is not valid here`);
  });
  // Without expressions Firehose adds its default time prefix.
  if (!prefix.includes("!{"))
    return `${prefix}${arrival.getUTCFullYear()}/${pad(arrival.getUTCMonth() + 1)}/${pad(arrival.getUTCDate())}/${pad(arrival.getUTCHours())}/`;
  if (expanded.includes("!{")) throw new FirehoseError(`prefix ${prefix}: an expression is malformed`);
  return expanded;
}

/** The object name Firehose gives a delivered file (after the prefix). */
export function objectName(stream: SynthesizedDeliveryStream, firstArrival: Date): string {
  const d = firstArrival;
  const time = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}-${pad(d.getUTCHours())}-${pad(d.getUTCMinutes())}-${pad(d.getUTCSeconds())}`;
  const extension = stream.fileExtension ?? (stream.compressionFormat === "GZIP" ? ".gz" : "");
  return `${stream.name}-1-${time}-${randomUUID()}${extension}`;
}

export interface LocalFirehoseOptions {
  readonly s3: S3Client;
  readonly streams: ReadonlyMap<string, SynthesizedDeliveryStream>;
  /** Flush buffers this often; 0 = only on {@link LocalFirehose.flush}. @default 1000 */
  readonly flushIntervalMs?: number;
  /** Arrival clock. @default Date.now */
  readonly now?: () => number;
  /** A flush failed (records stay buffered and are retried). */
  readonly onDeliveryError?: (stream: string, error: Error) => void;
}

interface Batch {
  readonly stream: SynthesizedDeliveryStream;
  readonly key: string;
  readonly firstArrival: Date;
  readonly records: Buffer[];
}

export class LocalFirehose {
  private batches = new Map<string, Batch>();
  private readonly timer?: NodeJS.Timeout;
  private flushing: Promise<number> = Promise.resolve(0);

  constructor(private readonly options: LocalFirehoseOptions) {
    for (const stream of options.streams.values()) {
      // Fail at start, not at the first record, when a prefix uses what the twin cannot evaluate.
      expandPrefix(stream.prefix, new Date(0));
      if (stream.errorOutputPrefix !== undefined) expandPrefix(stream.errorOutputPrefix, new Date(0), "processing-failed");
      if (!["GZIP", "UNCOMPRESSED"].includes(stream.compressionFormat))
        throw new FirehoseError(`${stream.name}: compression ${stream.compressionFormat} is not supported by the twin`);
    }
    const interval = options.flushIntervalMs ?? 1000;
    if (interval > 0) {
      this.timer = setInterval(() => void this.flush(), interval);
      this.timer.unref();
    }
  }

  /** Whether the delivery stream exists (the API stand-in's ResourceNotFoundException). */
  hasStream(streamName: string): boolean {
    return this.options.streams.has(streamName);
  }

  /** PutRecord: buffer one record (already carrying its separator). Throws for an unknown stream. */
  putRecord(streamName: string, data: Buffer): void {
    const stream = this.options.streams.get(streamName);
    if (!stream) throw new FirehoseError(`ResourceNotFoundException: Firehose ${streamName} not found under the account`);
    const arrival = new Date((this.options.now ?? Date.now)());
    const prefix = expandPrefix(stream.prefix, arrival);
    const id = `${stream.name}\n${prefix}`;
    let batch = this.batches.get(id);
    if (!batch) {
      batch = { stream, key: prefix, firstArrival: arrival, records: [] };
      this.batches.set(id, batch);
    }
    batch.records.push(data);
  }

  /** Write every buffered batch as one object; resolves to the number of objects written. */
  flush(): Promise<number> {
    this.flushing = this.flushing.then(() => this.writeAll());
    return this.flushing;
  }

  /** Flush what is buffered and stop the timer. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  private async writeAll(): Promise<number> {
    const batches = [...this.batches.values()];
    this.batches = new Map();
    let written = 0;
    for (const batch of batches) {
      const body = Buffer.concat(batch.records);
      try {
        await this.options.s3.send(
          new PutObjectCommand({
            Bucket: batch.stream.bucketName,
            Key: `${batch.key}${objectName(batch.stream, batch.firstArrival)}`,
            Body: batch.stream.compressionFormat === "GZIP" ? await gzipAsync(body) : body,
          }),
        );
        written++;
      } catch (err) {
        // Firehose retries delivery; keep the records for the next flush.
        const again = this.batches.get(`${batch.stream.name}\n${batch.key}`);
        if (again) again.records.unshift(...batch.records);
        else this.batches.set(`${batch.stream.name}\n${batch.key}`, batch);
        this.options.onDeliveryError?.(batch.stream.name, err instanceof Error ? err : new Error(String(err)));
      }
    }
    return written;
  }
}
