/**
 * Step (c): each reading of the batch to the WebSocket connections following its device's building.
 * Per batch: one registry BatchGetItem per 100 distinct devices not in the container's building cache
 * (60 s), one connections query per building that has readings, then the posts, a bounded number in
 * flight. A connection API Gateway reports gone (410) is deleted and gets nothing more. A failed post
 * is logged, never retried (the other followers would get the reading twice), and so is a failed
 * lookup: a live update is worth nothing minutes later, and failing the batch would send its readings
 * to the warm store and the alert handler again.
 */
import { PostToConnectionCommand, type ApiGatewayManagementApiClient } from "@aws-sdk/client-apigatewaymanagementapi";
import { BatchGetCommand, DeleteCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { buildingOfItem } from "../shared/buildings";
import type { HotItem } from "./stream-records";
import { forEachLimited } from "../shared/concurrency";
import { queryItems } from "../shared/paged-items";

/** A building with more followers than this gets the readings on the first ones only. */
export const MAX_CONNECTIONS_PER_BUILDING = 2000;
/** BatchGetItem takes at most 100 keys (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html). */
const BATCH_GET_KEYS = 100;
const UNPROCESSED_ROUNDS = 3;
/** Connections queries in flight at once. */
const QUERY_CONCURRENCY = 8;

/** Buildings of devices for `ttlMs`; a device with no building is remembered too. */
export class BuildingCache {
  private readonly entries = new Map<string, { buildingId: string | undefined; until: number }>();

  constructor(
    private readonly ttlMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** `null` when not cached (undefined is a cached "no building"). */
  get(thingName: string): string | undefined | null {
    const entry = this.entries.get(thingName);
    if (!entry) return null;
    if (entry.until <= this.now()) {
      this.entries.delete(thingName);
      return null;
    }
    return entry.buildingId;
  }

  set(thingName: string, buildingId: string | undefined): void {
    // Bounded: a container sees a few thousand devices at most; drop the oldest beyond that.
    if (this.entries.size >= 20_000) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(thingName, { buildingId, until: this.now() + this.ttlMs });
  }
}

export interface LiveDeps {
  readonly ddb: DynamoDBDocumentClient;
  readonly api: ApiGatewayManagementApiClient;
  readonly registryTableName: string;
  readonly connectionsTableName: string;
  readonly cache: BuildingCache;
  /** Posts in flight at once. @default 16 */
  readonly concurrency?: number;
  /** Epoch ms after which no post starts (the invocation's time is running out). */
  readonly deadline?: number;
}

export interface LiveOutcome {
  readonly buildings: number;
  readonly noBuilding: number;
  readonly delivered: number;
  readonly gone: number;
  readonly failed: number;
  /** Posts not made because the deadline came, and readings not posted because a lookup failed. */
  readonly skipped: number;
  readonly errors: string[];
}

/** The WebSocket message of one reading (the dashboard's contract). */
export function liveMessage(buildingId: string, r: HotItem): string {
  return JSON.stringify({ type: "telemetry", buildingId, thingName: r.thingName, ts: r.ts, deviceTs: r.deviceTs, metrics: r.metrics ?? {} });
}

/**
 * At the deadline every call still in flight is aborted (lookups and posts alike): a live step that
 * ran into the invocation's timeout would fail the whole batch and send it all again.
 */
export async function postLiveUpdates(deps: LiveDeps, readings: readonly HotItem[]): Promise<LiveOutcome> {
  const controller = new AbortController();
  const timer = deps.deadline === undefined ? undefined : setTimeout(() => controller.abort(), Math.max(0, deps.deadline - Date.now()));
  try {
    return await postWithin(deps, readings, controller.signal);
  } finally {
    clearTimeout(timer);
  }
}

async function postWithin(deps: LiveDeps, readings: readonly HotItem[], abortSignal: AbortSignal): Promise<LiveOutcome> {
  const errors: string[] = [];
  let buildingOf: Map<string, string | undefined>;
  try {
    buildingOf = await lookUpBuildings(deps, [...new Set(readings.map((r) => r.thingName))], abortSignal);
  } catch (error) {
    errors.push(`registry: ${describe(error)}`);
    return { buildings: 0, noBuilding: 0, delivered: 0, gone: 0, failed: 0, skipped: readings.length, errors };
  }
  const byBuilding = new Map<string, HotItem[]>();
  let noBuilding = 0;
  for (const r of readings) {
    const buildingId = buildingOf.get(r.thingName);
    if (buildingId === undefined) noBuilding++;
    else if (byBuilding.has(buildingId)) byBuilding.get(buildingId)!.push(r);
    else byBuilding.set(buildingId, [r]);
  }

  // One post per (connection, reading); readings of a building in batch order.
  const posts: { buildingId: string; connectionId: string; data: Uint8Array }[] = [];
  let skipped = 0;
  await forEachLimited([...byBuilding], QUERY_CONCURRENCY, async ([buildingId, ofBuilding]) => {
    let connections: string[];
    try {
      connections = await followers(deps, buildingId, abortSignal);
    } catch (error) {
      errors.push(`connections of ${buildingId}: ${describe(error)}`);
      skipped += ofBuilding.length;
      return;
    }
    for (const r of ofBuilding) {
      const data = Buffer.from(liveMessage(buildingId, r), "utf8");
      for (const connectionId of connections) posts.push({ buildingId, connectionId, data });
    }
  });

  const gone = new Set<string>();
  let delivered = 0;
  let failed = 0;
  await forEachLimited(posts, deps.concurrency ?? 16, async (post) => {
    const key = `${post.buildingId}\n${post.connectionId}`;
    if (gone.has(key)) return;
    if (abortSignal.aborted) {
      skipped++;
      return;
    }
    try {
      await deps.api.send(new PostToConnectionCommand({ ConnectionId: post.connectionId, Data: post.data }), { abortSignal });
      delivered++;
    } catch (error) {
      if (abortSignal.aborted) {
        skipped++;
        return;
      }
      if (!isGone(error)) {
        failed++;
        if (errors.length < 5) errors.push(`post to ${post.connectionId}: ${describe(error)}`);
        return;
      }
      if (gone.has(key)) return;
      gone.add(key);
      try {
        await deps.ddb.send(new DeleteCommand({ TableName: deps.connectionsTableName, Key: { buildingId: post.buildingId, connectionId: post.connectionId } }));
      } catch {
        // The row's TTL removes it later.
      }
    }
  });
  return { buildings: byBuilding.size, noBuilding, delivered, gone: gone.size, failed, skipped, errors };
}

/** PostToConnection on a closed connection: `GoneException`, HTTP 410. */
export function isGone(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return error.name === "GoneException" || status === 410;
}

/** Buildings of the devices (undefined: none, unknown or malformed), from the cache or the registry. */
async function lookUpBuildings(deps: LiveDeps, things: readonly string[], abortSignal: AbortSignal): Promise<Map<string, string | undefined>> {
  const result = new Map<string, string | undefined>();
  const missing: string[] = [];
  for (const thing of things) {
    const cached = deps.cache.get(thing);
    if (cached === null) missing.push(thing);
    else result.set(thing, cached);
  }
  for (let i = 0; i < missing.length; i += BATCH_GET_KEYS) {
    let keys: Record<string, unknown>[] = missing.slice(i, i + BATCH_GET_KEYS).map((serialNumber) => ({ serialNumber }));
    const found = new Map<string, string | undefined>();
    for (let round = 0; keys.length > 0 && round <= UNPROCESSED_ROUNDS; round++) {
      if (round > 0) await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** round));
      const out = await deps.ddb.send(
        new BatchGetCommand({
          RequestItems: {
            [deps.registryTableName]: {
              Keys: keys,
              ProjectionExpression: "#serial, #metadata",
              ExpressionAttributeNames: { "#serial": "serialNumber", "#metadata": "metadata" },
            },
          },
        }),
        { abortSignal },
      );
      for (const item of out.Responses?.[deps.registryTableName] ?? []) {
        if (typeof item.serialNumber === "string") found.set(item.serialNumber, buildingOfItem(item));
      }
      keys = out.UnprocessedKeys?.[deps.registryTableName]?.Keys ?? [];
    }
    // Keys still unprocessed stay unknown for this batch and uncached.
    const unprocessed = new Set(keys.map((k) => k.serialNumber));
    for (const thing of missing.slice(i, i + BATCH_GET_KEYS)) {
      if (unprocessed.has(thing)) continue;
      const buildingId = found.get(thing);
      deps.cache.set(thing, buildingId);
      result.set(thing, buildingId);
    }
  }
  return result;
}

async function followers(deps: LiveDeps, buildingId: string, abortSignal: AbortSignal): Promise<string[]> {
  const ids: string[] = [];
  const items = queryItems(
    deps.ddb,
    {
      TableName: deps.connectionsTableName,
      KeyConditionExpression: "buildingId = :building",
      ProjectionExpression: "#connection",
      ExpressionAttributeNames: { "#connection": "connectionId" },
      ExpressionAttributeValues: { ":building": buildingId },
    },
    abortSignal,
  );
  for await (const item of items) {
    if (typeof item.connectionId === "string") ids.push(item.connectionId);
    if (ids.length >= MAX_CONNECTIONS_PER_BUILDING) break;
  }
  return ids;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 300) : String(error).slice(0, 300);
}
