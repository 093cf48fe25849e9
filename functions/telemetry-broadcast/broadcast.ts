/**
 * Business logic of the live-updates broadcaster: for one telemetry reading, add it to the device's
 * hourly rollup (./rollup.ts, whatever the building), find the device's building in the registry, keep the building's latest-reading row current (conditional put: an
 * older reading never overwrites a newer one) and post the reading to every WebSocket connection
 * following that building, removing connections API Gateway reports as gone (410).
 */
import { PostToConnectionCommand, type ApiGatewayManagementApiClient } from "@aws-sdk/client-apigatewaymanagementapi";
import { DeleteCommand, PutCommand, QueryCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import * as z from "../shared/schema";
import { isConditionalCheckFailed } from "../shared/aws";
import { buildingOfDevice } from "../shared/building-registry";
import { serialNumberSchema } from "../shared/registry";
import { rollUpReading, type RollupOutcome } from "./rollup";

/** What the IoT rule on `devices/+/telemetry` sends (docs/contracts.md, `ts` stamped by AWS IoT). */
export const telemetryEventSchema = z.object({
  thingName: serialNumberSchema,
  /** epoch ms, `timestamp()` of the IoT rule: when AWS IoT received the reading */
  ts: z.int().check(z.nonnegative()),
  /** the device's own `ts`, as it sent it */
  deviceTs: z.optional(z.union([z.string().check(z.maxLength(64)), z.number()])),
  metrics: z.optional(z.record(z.string().check(z.maxLength(128)), z.unknown())),
});

export type TelemetryReading = z.infer<typeof telemetryEventSchema>;

export interface BroadcastDeps {
  ddb: DynamoDBDocumentClient;
  api: ApiGatewayManagementApiClient;
  registryTableName: string;
  connectionsTableName: string;
  latestTableName: string;
  /** Hourly rollups per device (functions/shared/telemetry-rollup.ts). */
  rollupTableName: string;
  /** How long a latest-reading row outlives the device's last reading, and a rollup item its hour. */
  latestTtlSeconds: number;
  /** Parallel posts to connections. @default 10 */
  concurrency?: number;
}

export type BroadcastOutcome =
  | { outcome: "no-building"; rollup: RollupOutcome }
  | { outcome: "broadcast"; rollup: RollupOutcome; buildingId: string; latestUpdated: boolean; delivered: number; gone: number; failed: number };

/** A building with more followers than this gets the reading on the first ones only (and a warning in the log). */
export const MAX_CONNECTIONS_PER_BUILDING = 2000;

export async function broadcastTelemetry(deps: BroadcastDeps, reading: TelemetryReading): Promise<BroadcastOutcome> {
  // First, and for every device: the hot store keeps every reading, so the rollups must too. A retry
  // after a later step failed finds the reading already counted.
  // TEMPORARY (branch pipeline-stack): an empty table name is a removed setting (see index.ts).
  const rollup = deps.rollupTableName
    ? await rollUpReading({ ddb: deps.ddb, rollupTableName: deps.rollupTableName, ttlSeconds: deps.latestTtlSeconds }, reading)
    : "no-metrics";
  const buildingId = await buildingOfDevice(deps.ddb, deps.registryTableName, reading.thingName);
  if (!buildingId) return { outcome: "no-building", rollup };

  const latestUpdated = deps.latestTableName ? await updateLatest(deps, buildingId, reading) : false;
  const connections = await followers(deps, buildingId);
  const message = Buffer.from(
    JSON.stringify({ type: "telemetry", buildingId, thingName: reading.thingName, ts: reading.ts, deviceTs: reading.deviceTs, metrics: reading.metrics ?? {} }),
    "utf8",
  );

  let delivered = 0;
  let gone = 0;
  let failed = 0;
  await forEachLimited(connections, deps.concurrency ?? 10, async (connectionId) => {
    try {
      await deps.api.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: message }));
      delivered++;
    } catch (error) {
      if (!isGone(error)) {
        failed++;
        return;
      }
      gone++;
      try {
        await deps.ddb.send(new DeleteCommand({ TableName: deps.connectionsTableName, Key: { buildingId, connectionId } }));
      } catch {
        // TTL removes it later.
      }
    }
  });
  return { outcome: "broadcast", rollup, buildingId, latestUpdated, delivered, gone, failed };
}

/** PostToConnection on a closed connection: `GoneException`, HTTP 410. */
export function isGone(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return error.name === "GoneException" || status === 410;
}

async function updateLatest(deps: BroadcastDeps, buildingId: string, reading: TelemetryReading): Promise<boolean> {
  try {
    await deps.ddb.send(
      new PutCommand({
        TableName: deps.latestTableName,
        Item: {
          buildingId,
          thingName: reading.thingName,
          ts: reading.ts,
          deviceTs: reading.deviceTs,
          metrics: reading.metrics ?? {},
          expiresAt: Math.floor(reading.ts / 1000) + deps.latestTtlSeconds,
        },
        ConditionExpression: "attribute_not_exists(#ts) OR #ts < :ts",
        ExpressionAttributeNames: { "#ts": "ts" },
        ExpressionAttributeValues: { ":ts": reading.ts },
      }),
    );
    return true;
  } catch (error) {
    if (isConditionalCheckFailed(error)) return false; // a newer reading is already there
    throw error;
  }
}

async function followers(deps: BroadcastDeps, buildingId: string): Promise<string[]> {
  const ids: string[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await deps.ddb.send(
      new QueryCommand({
        TableName: deps.connectionsTableName,
        KeyConditionExpression: "buildingId = :building",
        ProjectionExpression: "#connection",
        ExpressionAttributeNames: { "#connection": "connectionId" },
        ExpressionAttributeValues: { ":building": buildingId },
        ExclusiveStartKey: startKey,
      }),
    );
    for (const item of page.Items ?? []) if (typeof item.connectionId === "string") ids.push(item.connectionId);
    startKey = page.LastEvaluatedKey;
  } while (startKey && ids.length < MAX_CONNECTIONS_PER_BUILDING);
  return ids.slice(0, MAX_CONNECTIONS_PER_BUILDING);
}

async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++];
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
}
