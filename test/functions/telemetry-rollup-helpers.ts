/** Helpers for the rollup job tests (not a test file itself): one isolated set of tables per scenario, the job's deps. */
import { CreateTableCommand, type DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, ScanCommand } from "@aws-sdk/lib-dynamodb";
import type { QueryDeps } from "../../functions/telemetry-api/queries";
import type { RollupJobDeps } from "../../functions/telemetry-rollup/job";

export const HOUR = 3600_000;
export const DAY = 24 * HOUR;

/** The tables one scenario reads and writes (the watermark is per rollup table, so scenarios cannot disturb each other). */
export interface ScenarioTables {
  registry: string;
  telemetry: string;
  rollup: string;
}

function create(name: string, hash: string, range?: string) {
  return new CreateTableCommand({
    TableName: name,
    BillingMode: "PAY_PER_REQUEST",
    AttributeDefinitions: [{ AttributeName: hash, AttributeType: "S" }, ...(range ? [{ AttributeName: range, AttributeType: "N" as const }] : [])],
    KeySchema: [{ AttributeName: hash, KeyType: "HASH" }, ...(range ? [{ AttributeName: range, KeyType: "RANGE" as const }] : [])],
  });
}

/** A registry, hot store and rollup table keyed as the stacks key them. */
export async function createScenario(client: DynamoDBClient, prefix: string): Promise<ScenarioTables> {
  const tables = { registry: `${prefix}-registry`, telemetry: `${prefix}-telemetry`, rollup: `${prefix}-rollup` };
  await client.send(create(tables.registry, "serialNumber"));
  await client.send(create(tables.telemetry, "thingName", "ts"));
  await client.send(create(tables.rollup, "thingName", "hour"));
  return tables;
}

/** The job's deps over a scenario, at a fixed `now`, with no deadline unless given. */
export function jobDeps(ddb: DynamoDBDocumentClient, t: ScenarioTables, now: number, overrides: Partial<RollupJobDeps> = {}): RollupJobDeps {
  return {
    ddb,
    registryTableName: t.registry,
    telemetryTableName: t.telemetry,
    rollupTableName: t.rollup,
    ttlSeconds: 90 * 86400,
    maxHoursPerRun: 48,
    now: () => now,
    stopAt: Number.MAX_SAFE_INTEGER,
    concurrency: 4,
    ...overrides,
  };
}

/** The dashboard API's deps over a scenario (`useRollups` false: the compute-on-read path). */
export function apiDeps(ddb: DynamoDBDocumentClient, t: ScenarioTables, now: number, useRollups: boolean): QueryDeps {
  return {
    ddb,
    telemetryTableName: t.telemetry,
    rollupTableName: t.rollup,
    registryTableName: t.registry,
    now: () => now,
    useRollups,
  };
}

/** Every item of a table, sorted by its keys (for before/after comparisons). */
export async function allItems(ddb: DynamoDBDocumentClient, table: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await ddb.send(new ScanCommand({ TableName: table, ExclusiveStartKey: startKey }));
    items.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return items.sort((a, b) =>
    `${String(a.thingName)}|${String(a.hour).padStart(15, "0")}`.localeCompare(`${String(b.thingName)}|${String(b.hour).padStart(15, "0")}`),
  );
}
