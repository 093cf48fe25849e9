/**
 * The registry table's DynamoDB stream, as the twin emulates it: dynalite has no streams, so this
 * polls the table (a consistent Scan every `intervalMs`), turns each row that changed since the last
 * poll into the stream record DynamoDB would write (NEW_AND_OLD_IMAGES, INSERT / MODIFY / REMOVE,
 * increasing sequence numbers) and hands the batch to a consumer that answers like a Lambda stream
 * consumer (`batchItemFailures`). A failed record and the ones after it are delivered again on the next
 * poll, as Lambda retries them; nothing is dropped.
 *
 * Not faithful (see local/README): changes between two polls collapse into one record per row, and the
 * mapping's event filter is not applied (the consumer ignores records it does not act on).
 */
import type { AttributeValue, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { ScanCommand } from "@aws-sdk/client-dynamodb";
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";

type Image = Record<string, AttributeValue>;

export interface RegistryStreamOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** Partition key attribute. @default "serialNumber" */
  readonly keyName?: string;
  /** @default 500 */
  readonly intervalMs?: number;
  readonly consumer: (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse | void>;
  readonly note?: (text: string) => void;
}

export class RegistryStream {
  /** Starts from the table as it is now (StartingPosition LATEST on a table that existed before). */
  static async start(options: RegistryStreamOptions): Promise<RegistryStream> {
    const stream = new RegistryStream(options);
    stream.snapshot = await stream.scan();
    stream.timer = setInterval(() => void stream.poll(), options.intervalMs ?? 500);
    stream.timer.unref();
    return stream;
  }

  private snapshot = new Map<string, Image>();
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private sequence = 0;
  private readonly keyName: string;

  private constructor(private readonly options: RegistryStreamOptions) {
    this.keyName = options.keyName ?? "serialNumber";
  }

  /** One poll now (also what the timer runs); resolves when its batch was delivered. */
  poll(): Promise<void> {
    this.running ??= this.deliverChanges().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  private async deliverChanges(): Promise<void> {
    let current: Map<string, Image>;
    try {
      current = await this.scan();
    } catch (error) {
      this.options.note?.(`scan failed, retrying: ${(error as Error).message}`);
      return;
    }
    const records: { key: string; image?: Image; record: DynamoDBRecord }[] = [];
    for (const key of new Set([...this.snapshot.keys(), ...current.keys()])) {
      const before = this.snapshot.get(key);
      const after = current.get(key);
      if (before && after && JSON.stringify(before) === JSON.stringify(after)) continue;
      const eventName = !before ? "INSERT" : !after ? "REMOVE" : "MODIFY";
      const sequenceNumber = String(++this.sequence).padStart(21, "0");
      records.push({
        key,
        image: after,
        record: {
          eventID: `twin-${sequenceNumber}`,
          eventName,
          eventSource: "aws:dynamodb",
          eventVersion: "1.1",
          dynamodb: {
            Keys: { [this.keyName]: { S: key } },
            ...(before ? { OldImage: before as never } : {}),
            ...(after ? { NewImage: after as never } : {}),
            SequenceNumber: sequenceNumber,
            StreamViewType: "NEW_AND_OLD_IMAGES",
          },
        },
      });
    }
    if (records.length === 0) return;
    let failedAt = records.length;
    try {
      const response = await this.options.consumer({ Records: records.map((r) => r.record) });
      const failed = response?.batchItemFailures?.[0]?.itemIdentifier;
      if (failed)
        failedAt = Math.max(
          0,
          records.findIndex((r) => r.record.dynamodb?.SequenceNumber === failed),
        );
    } catch (error) {
      failedAt = 0;
      this.options.note?.(`consumer failed, the batch is delivered again: ${(error as Error).message}`);
    }
    // Only what was delivered moves the snapshot; the failed record and later ones come again.
    for (const r of records.slice(0, failedAt)) {
      if (r.image) this.snapshot.set(r.key, r.image);
      else this.snapshot.delete(r.key);
    }
  }

  private async scan(): Promise<Map<string, Image>> {
    const rows = new Map<string, Image>();
    let startKey: Image | undefined;
    do {
      const page = await this.options.client.send(new ScanCommand({ TableName: this.options.tableName, ConsistentRead: true, ExclusiveStartKey: startKey }));
      for (const item of page.Items ?? []) {
        const key = item[this.keyName]?.S;
        if (key !== undefined) rows.set(key, item);
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return rows;
  }
}
