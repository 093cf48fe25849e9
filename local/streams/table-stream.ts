/**
 * A DynamoDB table's stream as the twin emulates it (dynalite has none): an in-memory shard of stream
 * records in DynamoDB's shape (eventName INSERT / MODIFY / REMOVE, `dynamodb.Keys`, the images the
 * table's StreamViewType keeps, increasing `SequenceNumber`, `ApproximateCreationDateTime`), read by the
 * event source mappings (event-source-mapping.ts) each from its own position, as Lambda reads a shard.
 *
 * Two ways records enter it (see {@link TableStream.watch} and {@link TableStream.tap}):
 * - watched: a consistent Scan every `intervalMs`, diffed with the previous one. Works for any table
 *   and any writer (the registry, written by several functions), at the cost of a full Scan per poll and
 *   changes between two polls collapsing into one record per item.
 * - tapped: the twin's own writer reports each write as it makes it (the rules engine's DynamoDBv2
 *   action, a PutItem returning ALL_OLD so INSERT and MODIFY are told apart). Exact and cheap, which a
 *   growing insert-only table (the hot telemetry table) needs; writes by anything else are not seen.
 *
 * Not faithful: one shard per table, records kept in memory only until every mapping read them (no 24 h
 * retention), TTL deletions never appear (dynalite does not expire items).
 */
import { EventEmitter } from "node:events";
import type { AttributeValue, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { ScanCommand } from "@aws-sdk/client-dynamodb";
import type { DynamoDBRecord } from "aws-lambda";

export type Image = Record<string, AttributeValue>;
export type StreamViewType = "KEYS_ONLY" | "NEW_IMAGE" | "OLD_IMAGE" | "NEW_AND_OLD_IMAGES";

/** The table a stream belongs to, as the stack synthesizes it. */
export interface StreamedTable {
  readonly tableName: string;
  readonly hashKey: string;
  readonly rangeKey?: string;
  readonly streamViewType: StreamViewType;
}

/** One record on the shard with when it arrived (epoch ms) and its position on the shard. */
export interface StreamEntry {
  readonly position: number;
  readonly arrival: number;
  readonly record: DynamoDBRecord;
}

export interface TableStreamEvents {
  appended: [entry: StreamEntry];
}

/** Sequence numbers of every twin stream share one counter, so they also order across tables. */
let lastSequence = 0;

export class TableStream extends EventEmitter<TableStreamEvents> {
  readonly streamArn: string;
  readonly shardId = "shardId-00000000000000000001-twin0001";
  private entries: StreamEntry[] = [];
  /** Position of `entries[0]` (entries before it were read by every reader and dropped). */
  private first = 0;
  private readonly readers = new Map<object, number>();
  private watcher?: { client: DynamoDBClient; note?: (text: string) => void; snapshot: Map<string, Image>; timer: NodeJS.Timeout; running?: Promise<void> };

  constructor(
    readonly table: StreamedTable,
    private readonly where: { region: string; accountId: string; now?: () => number },
  ) {
    super();
    // The label is the stream's creation time; any stable value names the stream.
    this.streamArn = `arn:aws:dynamodb:${where.region}:${where.accountId}:table/${table.tableName}/stream/1970-01-01T00:00:00.000`;
  }

  /** The position after the last record. */
  get end(): number {
    return this.first + this.entries.length;
  }

  /** Records from `position` on (at most `max`). */
  read(position: number, max = Infinity): StreamEntry[] {
    const from = Math.max(0, position - this.first);
    return this.entries.slice(from, from + Math.min(max, this.entries.length));
  }

  /** A reader's checkpoint: records every reader is past are dropped. */
  checkpoint(reader: object, position: number): void {
    this.readers.set(reader, position);
    const lowest = Math.min(...this.readers.values());
    if (lowest > this.first) {
      this.entries = this.entries.slice(lowest - this.first);
      this.first = lowest;
    }
  }

  /** Appends the record DynamoDB writes for a change of one item (`before`/`after` absent = no item). */
  append(before: Image | undefined, after: Image | undefined): StreamEntry | undefined {
    if (!before && !after) return undefined;
    const eventName = !before ? "INSERT" : !after ? "REMOVE" : "MODIFY";
    const item = (after ?? before)!;
    const keys: Image = { [this.table.hashKey]: item[this.table.hashKey]! };
    if (this.table.rangeKey) keys[this.table.rangeKey] = item[this.table.rangeKey]!;
    const view = this.table.streamViewType;
    const sequenceNumber = String(++lastSequence).padStart(21, "0");
    const arrival = (this.where.now ?? Date.now)();
    const images = {
      ...(after && (view === "NEW_IMAGE" || view === "NEW_AND_OLD_IMAGES") ? { NewImage: after } : {}),
      ...(before && (view === "OLD_IMAGE" || view === "NEW_AND_OLD_IMAGES") ? { OldImage: before } : {}),
    };
    const record: DynamoDBRecord = {
      eventID: `twin-${sequenceNumber}`,
      eventName,
      eventSource: "aws:dynamodb",
      eventVersion: "1.1",
      awsRegion: this.where.region,
      eventSourceARN: this.streamArn,
      dynamodb: {
        ApproximateCreationDateTime: Math.floor(arrival / 1000),
        Keys: keys as never,
        ...(images as Pick<NonNullable<DynamoDBRecord["dynamodb"]>, "NewImage" | "OldImage">),
        SequenceNumber: sequenceNumber,
        SizeBytes: JSON.stringify({ keys, ...images }).length,
        StreamViewType: view,
      },
    };
    const entry = { position: this.end, arrival, record };
    this.entries.push(entry);
    this.emit("appended", entry);
    return entry;
  }

  /** Tapped mode: the writer reports a PutItem (`before` from ReturnValues ALL_OLD). */
  tap(before: Image | undefined, after: Image): void {
    this.append(before, after);
  }

  /** Watched mode: diff a consistent Scan every `intervalMs` (the first Scan is the starting state). */
  async watch(client: DynamoDBClient, intervalMs: number, note?: (text: string) => void): Promise<void> {
    const snapshot = await this.scan(client);
    const timer = setInterval(() => void this.pollNow(), intervalMs);
    timer.unref();
    this.watcher = { client, note, snapshot, timer };
  }

  /** Watched mode: one Scan now (what the timer runs); resolves when its records are on the shard. */
  pollNow(): Promise<void> {
    const w = this.watcher;
    if (!w) return Promise.resolve();
    w.running ??= this.diff(w.client, w.snapshot, w.note).finally(() => (w.running = undefined));
    return w.running;
  }

  async close(): Promise<void> {
    if (!this.watcher) return;
    clearInterval(this.watcher.timer);
    await this.watcher.running?.catch(() => undefined);
  }

  private async diff(client: DynamoDBClient, snapshot: Map<string, Image>, note?: (text: string) => void): Promise<void> {
    let current: Map<string, Image>;
    try {
      current = await this.scan(client);
    } catch (error) {
      note?.(`${this.table.tableName}: scan failed, retrying: ${(error as Error).message}`);
      return;
    }
    for (const key of new Set([...snapshot.keys(), ...current.keys()])) {
      const before = snapshot.get(key);
      const after = current.get(key);
      if (before && after && JSON.stringify(before) === JSON.stringify(after)) continue;
      this.append(before, after);
      if (after) snapshot.set(key, after);
      else snapshot.delete(key);
    }
  }

  private async scan(client: DynamoDBClient): Promise<Map<string, Image>> {
    const rows = new Map<string, Image>();
    let startKey: Image | undefined;
    do {
      const page = await client.send(new ScanCommand({ TableName: this.table.tableName, ConsistentRead: true, ExclusiveStartKey: startKey }));
      for (const item of page.Items ?? []) rows.set(this.keyOf(item), item);
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return rows;
  }

  private keyOf(item: Image): string {
    const { hashKey, rangeKey } = this.table;
    return JSON.stringify([item[hashKey], rangeKey ? item[rangeKey] : null]);
  }
}
