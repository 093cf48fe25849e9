/**
 * Seeds the telemetry hot store (and optionally the hourly rollups) with known readings (tests and
 * scripts/bench-telemetry.ts): `BatchWriteItem` 25 at a time, a few batches in flight, unprocessed
 * items retried.
 */
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { BatchWriteCommand, DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { addValue, encodeRollupMetrics, hourOf, type RollupMetrics } from "../../functions/shared/telemetry-rollup";

export type Metrics = Record<string, number | boolean>;

export interface SeedPlan {
  readonly telemetryTable: string;
  readonly things: readonly string[];
  /** Epoch ms of reading 0. */
  readonly start: number;
  readonly stepMs: number;
  readonly count: number;
  /** Metrics of device `d` (index in `things`) at reading `k`; undefined = no reading (a gap). */
  readonly metrics: (d: number, k: number) => Metrics | undefined;
  /** Also write the hourly rollup items the broadcaster would keep for these readings. @default none */
  readonly rollupTable?: string;
}

export async function putAll(client: DynamoDBClient, table: string, items: readonly Record<string, unknown>[], inFlight = 4): Promise<void> {
  const ddb = DynamoDBDocumentClient.from(client);
  const batches: Record<string, unknown>[][] = [];
  for (let i = 0; i < items.length; i += 25) batches.push(items.slice(i, i + 25));
  let next = 0;
  const worker = async () => {
    while (next < batches.length) {
      let pending = batches[next++]!.map((Item) => ({ PutRequest: { Item } }));
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > 10) throw new Error(`${table}: ${pending.length} items stayed unprocessed`);
        const out = await ddb.send(new BatchWriteCommand({ RequestItems: { [table]: pending } }));
        pending = (out.UnprocessedItems?.[table] ?? []) as typeof pending;
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
}

/** Writes the planned readings; resolves to how many were written. */
export async function seedReadings(client: DynamoDBClient, plan: SeedPlan): Promise<number> {
  const items: Record<string, unknown>[] = [];
  plan.things.forEach((thingName, d) => {
    for (let k = 0; k < plan.count; k++) {
      const metrics = plan.metrics(d, k);
      const ts = plan.start + k * plan.stepMs;
      if (metrics) items.push({ thingName, ts, deviceTs: new Date(ts).toISOString(), metrics, expiresAt: Math.floor(ts / 1000) + 90 * 86400 });
    }
  });
  await putAll(client, plan.telemetryTable, items);
  if (plan.rollupTable) await putAll(client, plan.rollupTable, rollupItems(items));
  return items.length;
}

/** The rollup items of these readings, built with the broadcaster's own arithmetic (functions/shared/telemetry-rollup.ts). */
function rollupItems(readings: readonly Record<string, unknown>[]): Record<string, unknown>[] {
  const items = new Map<string, { thingName: string; hour: number; metrics: RollupMetrics; seen: Set<number>; version: number }>();
  for (const r of readings) {
    const ts = r.ts as number;
    const key = `${String(r.thingName)}|${hourOf(ts)}`;
    let item = items.get(key);
    if (!item) items.set(key, (item = { thingName: String(r.thingName), hour: hourOf(ts), metrics: {}, seen: new Set(), version: 0 }));
    for (const [name, value] of Object.entries(r.metrics as Metrics)) addValue((item.metrics[name] ??= {}), ts, value);
    item.seen.add(ts);
    item.version++;
  }
  return [...items.values()].map((item) => ({
    ...item,
    metrics: encodeRollupMetrics(item.metrics),
    expiresAt: Math.floor(item.hour / 1000) + 3600 + 90 * 86400,
  }));
}
