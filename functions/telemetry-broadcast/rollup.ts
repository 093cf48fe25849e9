/**
 * The hourly rollup of one reading (functions/shared/telemetry-rollup.ts): read the device-hour item,
 * add the reading's numbers and booleans in code (DynamoDB has no max()), write it back on condition
 * that nobody wrote it in between (a version number), retrying on a lost race. The item's `seen` set
 * makes a replayed reading a no-op; an out-of-order reading lands in its own hour like any other.
 */
import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { isConditionalCheckFailed } from "../shared/aws";
import {
  HOUR_MS,
  MAX_METRICS_PER_HOUR,
  MAX_READINGS_PER_HOUR,
  addValue,
  decodeRollupMetrics,
  encodeRollupMetrics,
  hourOf,
  valueKind,
} from "../shared/telemetry-rollup";

export interface RollupDeps {
  ddb: DynamoDBDocumentClient;
  rollupTableName: string;
  /** How long a rollup item outlives the end of its hour (the hot store's retention). */
  ttlSeconds: number;
}

export type RollupOutcome = "counted" | "duplicate" | "full" | "no-metrics";

/** Concurrent writers of one device-hour are rare (one device, readings seconds apart): a few rounds settle them. */
const MAX_ROUNDS = 5;

export async function rollUpReading(deps: RollupDeps, reading: { thingName: string; ts: number; metrics?: Record<string, unknown> }): Promise<RollupOutcome> {
  const values = Object.entries(reading.metrics ?? {}).filter(([, v]) => valueKind(v) !== undefined) as [string, number | boolean][];
  if (values.length === 0) return "no-metrics";
  const key = { thingName: reading.thingName, hour: hourOf(reading.ts) };
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const current = await deps.ddb.send(new GetCommand({ TableName: deps.rollupTableName, Key: key, ConsistentRead: true }));
    const item = current.Item;
    const seen = (item?.seen as Set<number> | undefined) ?? new Set<number>();
    if (seen.has(reading.ts)) return "duplicate";
    if (seen.size >= MAX_READINGS_PER_HOUR) return "full";
    const version = typeof item?.version === "number" ? item.version : 0;
    const metrics = decodeRollupMetrics(item?.metrics);
    for (const [name, value] of values) {
      if (!(name in metrics) && Object.keys(metrics).length >= MAX_METRICS_PER_HOUR) continue;
      addValue((metrics[name] ??= {}), reading.ts, value);
    }
    try {
      await deps.ddb.send(
        new UpdateCommand({
          TableName: deps.rollupTableName,
          Key: key,
          UpdateExpression: "SET #metrics = :metrics, #version = :next, #expires = :expires ADD #seen :ts",
          ConditionExpression: version === 0 ? "attribute_not_exists(#version)" : "#version = :version",
          ExpressionAttributeNames: { "#metrics": "metrics", "#version": "version", "#expires": "expiresAt", "#seen": "seen" },
          ExpressionAttributeValues: {
            ":metrics": encodeRollupMetrics(metrics),
            ":next": version + 1,
            ":expires": Math.floor((key.hour + HOUR_MS) / 1000) + deps.ttlSeconds,
            ":ts": new Set([reading.ts]),
            ...(version === 0 ? {} : { ":version": version }),
          },
        }),
      );
      return "counted";
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
    }
  }
  throw new Error(`rollup of ${reading.thingName} hour ${key.hour}: still contended after ${MAX_ROUNDS} rounds`);
}
