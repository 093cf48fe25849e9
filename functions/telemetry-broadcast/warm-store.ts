/**
 * Step (a): the batch's readings to the warm store. Each reading is one JSON line, exactly what the
 * store rule's Firehose action wrote before (the `storeSql` fields, in its order, then the "\n"
 * separator), so the Glue table and the Athena queries read them unchanged; many lines share one
 * Firehose record, so Firehose's 5 KB-per-record billing increment no longer dominates.
 *
 * PutRecordBatch limits (https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecordBatch.html):
 * 500 records and 4 MiB per call, 1,000 KiB per record. A call can succeed with some records failed
 * (`FailedPutCount`, `RequestResponses[i].ErrorCode`): those are sent again with backoff, then their
 * readings fail. Calls go one after the other and stop at the first failure: every later reading is
 * reported as failed anyway, so sending it would only duplicate it on the retry.
 */
import { PutRecordBatchCommand, type FirehoseClient } from "@aws-sdk/client-firehose";
import type { HotItem } from "./stream-records";

export const FIREHOSE_LIMITS = {
  recordBytes: 1000 * 1024,
  recordsPerCall: 500,
  /** Counted on the base64 text the JSON request carries: within the limit whichever size AWS measures. */
  requestBytes: 4 * 1024 * 1024,
} as const;

/** One reading as the store rule's Firehose action wrote it: absent fields left out, "\n"-terminated. */
export function warmLine(item: HotItem): string {
  const { thingName, ts, deviceTs, metrics, expiresAt } = item;
  return `${JSON.stringify({ thingName, ts, deviceTs, metrics, expiresAt })}\n`;
}

/** A Firehose record: the lines of readings `[start, end)` (indexes into the lines given). */
export interface WarmRecord {
  readonly start: number;
  readonly end: number;
  readonly data: Buffer;
}

/** Packs lines in order into records of at most `maxRecordBytes` (a DynamoDB item, at most 400 KB, always fits one). */
export function packWarmRecords(lines: readonly string[], maxRecordBytes: number = FIREHOSE_LIMITS.recordBytes): WarmRecord[] {
  const records: WarmRecord[] = [];
  let start = 0;
  let parts: Buffer[] = [];
  let size = 0;
  lines.forEach((line, i) => {
    const bytes = Buffer.from(line, "utf8");
    if (parts.length > 0 && size + bytes.length > maxRecordBytes) {
      records.push({ start, end: i, data: Buffer.concat(parts) });
      start = i;
      parts = [];
      size = 0;
    }
    parts.push(bytes);
    size += bytes.length;
  });
  if (parts.length > 0) records.push({ start, end: lines.length, data: Buffer.concat(parts) });
  return records;
}

/** Groups records into PutRecordBatch calls within the per-call limits. */
export function groupIntoCalls(records: readonly WarmRecord[]): WarmRecord[][] {
  const calls: WarmRecord[][] = [];
  let current: WarmRecord[] = [];
  let size = 0;
  for (const record of records) {
    const encoded = Math.ceil(record.data.length / 3) * 4 + 16;
    if (current.length > 0 && (current.length >= FIREHOSE_LIMITS.recordsPerCall || size + encoded > FIREHOSE_LIMITS.requestBytes)) {
      calls.push(current);
      current = [];
      size = 0;
    }
    current.push(record);
    size += encoded;
  }
  if (current.length > 0) calls.push(current);
  return calls;
}

export interface WarmStoreDeps {
  readonly firehose: FirehoseClient;
  readonly streamName: string;
  /** Rounds for records a call reported as failed. @default 3 */
  readonly retryRounds?: number;
  /** Backoff before retry round n: base * 2^n, with jitter. @default 100 */
  readonly backoffBaseMs?: number;
}

export interface WarmOutcome {
  /** Index (into the items given) of the first reading not stored; undefined when all were. */
  readonly firstFailed?: number;
  readonly calls: number;
  readonly records: number;
  readonly error?: string;
}

export async function sendToWarmStore(deps: WarmStoreDeps, items: readonly HotItem[]): Promise<WarmOutcome> {
  const records = packWarmRecords(items.map(warmLine));
  let calls = 0;
  for (const group of groupIntoCalls(records)) {
    let pending = group;
    let lastError = "";
    for (let round = 0; pending.length > 0; round++) {
      if (round > 0) {
        if (round > (deps.retryRounds ?? 3)) return { firstFailed: pending[0].start, calls, records: records.length, error: lastError };
        await sleep((deps.backoffBaseMs ?? 100) * 2 ** (round - 1) * (0.5 + Math.random() / 2));
      }
      calls++;
      try {
        const out = await deps.firehose.send(
          new PutRecordBatchCommand({ DeliveryStreamName: deps.streamName, Records: pending.map((r) => ({ Data: r.data })) }),
        );
        if (!out.FailedPutCount) break;
        const responses = out.RequestResponses ?? [];
        const failed = pending.filter((_, i) => responses[i]?.ErrorCode || !responses[i]?.RecordId);
        lastError = responses.find((r) => r.ErrorCode)?.ErrorCode ?? "FailedPutCount without an error code";
        pending = failed;
      } catch (error) {
        // The SDK already retried the call (throttling, 5xx, network): its records fail.
        return {
          firstFailed: pending[0].start,
          calls,
          records: records.length,
          error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        };
      }
    }
  }
  return { calls, records: records.length };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
