/**
 * The edge of the stream consumer: a DynamoDB stream batch (INSERT records of the hot table, NEW_IMAGE)
 * becomes a list of validated readings, each remembering its record's position in the batch (what a
 * failure is reported from). A record that is not an INSERT, has no sequence number or whose image is
 * not a reading the store rule could have written is left out and counted, never blocking the shard.
 */
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import * as z from "../shared/schema";
import { describeIssues, preview, serialNumberSchema } from "../shared/registry";

/** A hot-store item as the store rule writes it (stacks/telemetry/rule-sql.ts `storeSql`). */
export const hotItemSchema = z.object({
  thingName: serialNumberSchema,
  /** epoch ms, `timestamp()` of the IoT rule: when AWS IoT received the reading */
  ts: z.int().check(z.nonnegative()),
  /** the device's own `ts`, as it sent it */
  deviceTs: z.optional(z.union([z.string().check(z.maxLength(64)), z.number()])),
  metrics: z.optional(z.record(z.string().check(z.maxLength(128)), z.unknown())),
  /** epoch seconds: the item's TTL */
  expiresAt: z.int(),
});

export type HotItem = z.infer<typeof hotItemSchema>;

export interface StreamReading extends HotItem {
  /** Index of the record in the batch's `Records`. */
  readonly position: number;
}

export interface SkippedRecord {
  readonly position: number;
  readonly reason: "not-insert" | "no-sequence-number" | "malformed";
  readonly details?: Record<string, unknown>;
}

export interface ParsedBatch {
  readonly readings: StreamReading[];
  readonly skipped: SkippedRecord[];
  /** Sequence numbers by position (undefined where a record has none). */
  readonly sequenceNumbers: (string | undefined)[];
}

interface RawRecord {
  eventName?: unknown;
  dynamodb?: { SequenceNumber?: unknown; NewImage?: unknown };
}

export function parseStreamBatch(records: readonly unknown[]): ParsedBatch {
  const readings: StreamReading[] = [];
  const skipped: SkippedRecord[] = [];
  const sequenceNumbers = records.map((r) => {
    const seq = (r as RawRecord | null)?.dynamodb?.SequenceNumber;
    return typeof seq === "string" && seq.length > 0 ? seq : undefined;
  });
  for (const [position, raw] of records.entries()) {
    const record = (typeof raw === "object" && raw !== null ? raw : {}) as RawRecord;
    // The mapping's filter passes INSERTs only; a MODIFY (the same reading written twice) is not new.
    if (record.eventName !== "INSERT") {
      skipped.push({ position, reason: "not-insert", details: { eventName: preview(record.eventName) } });
      continue;
    }
    if (sequenceNumbers[position] === undefined) {
      skipped.push({ position, reason: "no-sequence-number" });
      continue;
    }
    const image = imageOf(record.dynamodb?.NewImage);
    const parsed = image === undefined ? undefined : hotItemSchema.safeParse(image);
    if (parsed?.success) readings.push({ ...parsed.data, position });
    else {
      const issues = parsed ? describeIssues(parsed.error, 5) : [{ path: "NewImage", message: "not a DynamoDB image" }];
      skipped.push({ position, reason: "malformed", details: { issues, thingName: preview(image?.thingName) } });
    }
  }
  return { readings, skipped, sequenceNumbers };
}

/**
 * The image as plain JSON values. Numbers become JavaScript numbers, as the JSON the device sent was
 * read by the store rule (`unmarshall` would otherwise give a BigInt or throw past 2^53).
 */
function imageOf(image: unknown): Record<string, unknown> | undefined {
  if (typeof image !== "object" || image === null || Array.isArray(image)) return undefined;
  try {
    return unmarshall(image as Record<string, AttributeValue>, { wrapNumbers: Number }) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
