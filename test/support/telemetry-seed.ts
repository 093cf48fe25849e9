/**
 * Seeds the telemetry hot store (and optionally the hourly rollups) with known readings (tests and
 * scripts/bench-telemetry.ts): `BatchWriteItem` 25 at a time, a few batches in flight, unprocessed
 * items retried.
 */
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { BatchWriteCommand, DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { advanceWatermark } from "../../functions/shared/rollup-watermark";
import { HOUR_MS, hourOf } from "../../functions/shared/telemetry-rollup";
import { rollUpDeviceHour } from "../../functions/telemetry-rollup/job";

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
  /**
   * Also roll the readings' completed hours with the rollup job's own code (one item per device-hour) and
   * move its watermark past the last of them, as the hourly job would. @default none
   */
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
  if (plan.rollupTable) await rollUp(client, plan.telemetryTable, plan.rollupTable, items);
  return items.length;
}

/** The rollup job's work for these readings' device-hours (hours still running are left to a later run), then its watermark. */
async function rollUp(client: DynamoDBClient, telemetryTable: string, rollupTable: string, readings: readonly Record<string, unknown>[]): Promise<void> {
  const ddb = DynamoDBDocumentClient.from(client);
  const completedBefore = hourOf(Date.now());
  const deviceHours = new Map<string, { thingName: string; hour: number }>();
  for (const r of readings) {
    const hour = hourOf(r.ts as number);
    if (hour < completedBefore) deviceHours.set(`${String(r.thingName)}|${hour}`, { thingName: String(r.thingName), hour });
  }
  const deps = { ddb, telemetryTableName: telemetryTable, rollupTableName: rollupTable, ttlSeconds: 90 * 86400 };
  const work = [...deviceHours.values()];
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < work.length) {
        const { thingName, hour } = work[next++]!;
        await rollUpDeviceHour(deps, thingName, hour);
      }
    }),
  );
  if (work.length > 0) await advanceWatermark(ddb, rollupTable, Math.max(...work.map((w) => w.hour)) + HOUR_MS, Date.now());
}
