/**
 * Functions driven by a DynamoDB stream (event source mappings), read from the synthesized stacks and
 * priced per batch: Lambda reads the stream for free and invokes the function with up to `batchSize`
 * records or what arrived within the batching window, whichever comes first, for each shard of the
 * stream on its own (the caller says how many shards). The telemetry consumer also forwards each batch
 * to Firehose, several readings per record, so the 5 KB-per-record rounding applies per batch, and
 * checks the configured thresholds (`TELEMETRY_THRESHOLDS`), invoking the alert handler on a crossing.
 * https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-params.html
 */
import { TELEMETRY_BROADCAST } from "../functions/telemetry-broadcast/contract";

type Resources = Record<string, Record<string, Record<string, unknown>>>;

export interface StreamConsumerInfo {
  /** Function name. */
  readonly function: string;
  /** Name of the table whose stream drives it. */
  readonly table: string;
  readonly batchSize: number;
  readonly batchingWindowSeconds: number;
  /** Its filter lets only INSERT records through. */
  readonly insertsOnly: boolean;
  /** It forwards the records to a Firehose delivery stream (the warm store). */
  readonly forwardsToFirehose: boolean;
  /** Thresholds it checks on each record (`TELEMETRY_THRESHOLDS`), each crossing an alert-handler invocation. */
  readonly thresholds: number;
  /** The function it invokes on a threshold crossing (`ALERT_FUNCTION_NAME`), if any. */
  readonly alertFunction?: string;
}

const KB = 1024;
/** Firehose bills each record rounded up to 5 KB. */
const FIREHOSE_ROUNDING_BYTES = 5 * KB;

/** The event source mappings on DynamoDB streams of one stack. */
export function streamConsumersOf(resources: Resources): StreamConsumerInfo[] {
  const byRef = (value: unknown, type: string): Record<string, unknown> | undefined => {
    const ref = new RegExp(`^\\$\\{${type}\\.([^.}]+)\\.[a-z_]+\\}$`).exec(String(value));
    return ref ? resources[type]?.[ref[1]!] : undefined;
  };
  return Object.values(resources.aws_lambda_event_source_mapping ?? {}).flatMap((m) => {
    const table = byRef(m.event_source_arn, "aws_dynamodb_table");
    const fn = byRef(m.function_name, "aws_lambda_function");
    if (!table || !fn) return [];
    const patterns = ((m.filter_criteria as { filter?: { pattern: string }[] } | undefined)?.filter ?? []).map(
      (f) => JSON.parse(f.pattern) as Record<string, unknown>,
    );
    const variables = ((fn.environment as { variables?: Record<string, string> } | undefined)?.variables ?? {}) as Record<string, string>;
    return [
      {
        function: String(fn.function_name),
        table: String(table.name),
        batchSize: Number(m.batch_size ?? 100),
        batchingWindowSeconds: Number(m.maximum_batching_window_in_seconds ?? 0),
        insertsOnly: patterns.length > 0 && patterns.every((p) => JSON.stringify(p.eventName) === '["INSERT"]'),
        forwardsToFirehose: Boolean(variables[TELEMETRY_BROADCAST.env.warmStreamName]),
        thresholds: thresholdCount(variables[TELEMETRY_BROADCAST.env.thresholds]),
        alertFunction: variables[TELEMETRY_BROADCAST.env.alertFunctionName],
      },
    ];
  });
}

export interface StreamConsumerLoad {
  readonly function: string;
  readonly records: number;
  readonly invocations: number;
  /** Bytes Firehose bills for the forwarded records (each record rounded up to 5 KB). */
  readonly firehoseBilledBytes: number;
}

function thresholdCount(json: string | undefined): number {
  if (!json) return 0;
  const parsed: unknown = JSON.parse(json);
  if (!Array.isArray(parsed)) throw new Error(`${TELEMETRY_BROADCAST.env.thresholds} is not a JSON array: ${json}`);
  return parsed.length;
}

/**
 * Invocations a month of each consumer, given the items written to each table a month (all of them
 * inserts) and the shards of each stream: a shard's records are batched apart from the others'.
 */
export function streamConsumerLoad(
  consumers: readonly StreamConsumerInfo[],
  tableWrites: ReadonlyMap<string, number>,
  secondsPerMonth: number,
  recordBytes: number,
  shards = 1,
): StreamConsumerLoad[] {
  return consumers.flatMap((c) => {
    const records = tableWrites.get(c.table) ?? 0;
    if (records === 0) return [];
    const perShardPerSecond = records / Math.max(1, shards) / secondsPerMonth;
    const perBatch = Math.min(c.batchSize, Math.max(1, perShardPerSecond * c.batchingWindowSeconds));
    const invocations = records / perBatch;
    const billedPerBatch = Math.ceil((perBatch * recordBytes) / FIREHOSE_ROUNDING_BYTES) * FIREHOSE_ROUNDING_BYTES;
    return [{ function: c.function, records, invocations, firehoseBilledBytes: c.forwardsToFirehose ? invocations * billedPerBatch : 0 }];
  });
}
