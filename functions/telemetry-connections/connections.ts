/**
 * The live-updates connection registry: one row per (building, connection) in the connections table
 * (partition key `buildingId`, sort key `connectionId`, TTL `expiresAt` in epoch seconds, and an index
 * by `connectionId` to find a connection's rows on disconnect). `$disconnect` is best effort on AWS's
 * side, so the TTL and the broadcaster's removal of gone connections clean up what it misses.
 */
import { BatchWriteCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { BUILDING_ID_PATTERN } from "../shared/buildings";
import { queryItems } from "../shared/paged-items";

export interface ConnectionsDeps {
  ddb: DynamoDBDocumentClient;
  tableName: string;
  /** Index with partition key `connectionId`. */
  indexName: string;
  /** How long a row lives without a `$disconnect` (API Gateway closes connections after 2 hours). */
  ttlSeconds: number;
  /** epoch ms */
  now: () => number;
}

export interface ConnectRequest {
  connectionId: string;
  /** From the authorizer context: the buildings the verified user belongs to. */
  authorizedBuildings: readonly string[];
  /** `?buildingId=` narrows the subscription to one of them. */
  requestedBuilding?: string;
  sub?: string;
}

export type ConnectOutcome = { statusCode: 200; buildings: string[] } | { statusCode: 400 | 403; message: string };

/** API Gateway connection ids are short base64-like strings such as `L0SM9cOFvHcCIhw=`. */
export const CONNECTION_ID_PATTERN = /^[A-Za-z0-9+/=_-]{1,128}$/;

const BATCH = 25;
const MAX_BATCH_ATTEMPTS = 5;

export async function connect(deps: ConnectionsDeps, request: ConnectRequest): Promise<ConnectOutcome> {
  if (!CONNECTION_ID_PATTERN.test(request.connectionId)) return { statusCode: 400, message: "missing or malformed connection id" };
  const authorized = request.authorizedBuildings.filter((b) => BUILDING_ID_PATTERN.test(b));
  if (authorized.length === 0) return { statusCode: 403, message: "the authorizer granted no building" };
  let buildings = authorized;
  if (request.requestedBuilding !== undefined) {
    if (!authorized.includes(request.requestedBuilding)) return { statusCode: 403, message: "you may not follow that building" };
    buildings = [request.requestedBuilding];
  }
  const now = deps.now();
  const expiresAt = Math.floor(now / 1000) + deps.ttlSeconds;
  await batchWrite(
    deps,
    buildings.map((buildingId) => ({
      PutRequest: { Item: { buildingId, connectionId: request.connectionId, sub: request.sub, connectedAt: now, expiresAt } },
    })),
  );
  return { statusCode: 200, buildings };
}

/** Removes every row of a connection; returns how many there were. */
export async function disconnect(deps: ConnectionsDeps, connectionId: string): Promise<number> {
  if (!CONNECTION_ID_PATTERN.test(connectionId)) return 0;
  const keys: { buildingId: string; connectionId: string }[] = [];
  const items = queryItems(deps.ddb, {
    TableName: deps.tableName,
    IndexName: deps.indexName,
    KeyConditionExpression: "connectionId = :id",
    ExpressionAttributeValues: { ":id": connectionId },
  });
  for await (const item of items) keys.push({ buildingId: String(item.buildingId), connectionId });
  await batchWrite(
    deps,
    keys.map((Key) => ({ DeleteRequest: { Key } })),
  );
  return keys.length;
}

type WriteRequest = { PutRequest: { Item: Record<string, unknown> } } | { DeleteRequest: { Key: Record<string, unknown> } };

/** BatchWriteItem in chunks of 25, retrying unprocessed items a few times with a short backoff. */
async function batchWrite(deps: ConnectionsDeps, requests: readonly WriteRequest[]): Promise<void> {
  for (let i = 0; i < requests.length; i += BATCH) {
    let pending = requests.slice(i, i + BATCH) as WriteRequest[];
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > MAX_BATCH_ATTEMPTS) throw new Error(`BatchWriteItem left ${pending.length} request(s) unprocessed`);
      if (attempt > 1) await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
      const result = await deps.ddb.send(new BatchWriteCommand({ RequestItems: { [deps.tableName]: pending } }));
      pending = (result.UnprocessedItems?.[deps.tableName] as WriteRequest[] | undefined) ?? [];
    }
  }
}
