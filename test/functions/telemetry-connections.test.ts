import { QueryCommand } from "@aws-sdk/lib-dynamodb";
import { startDynalite, type RunningDynalite } from "../support/dynalite";
import { captureStdout, documentClient, putItem } from "./helpers";
import { TELEMETRY_TABLES, createTelemetryTables, loadWith } from "./telemetry-helpers";

type ConnectionsModule = typeof import("../../functions/telemetry-connections");
const CONNECTIONS = "../../functions/telemetry-connections";

let db: RunningDynalite;
let handler: ConnectionsModule["handler"];
let logs: ReturnType<typeof captureStdout>;
let counter = 0;

const env = () => ({
  CONNECTIONS_TABLE_NAME: TELEMETRY_TABLES.connections,
  CONNECTIONS_INDEX_NAME: TELEMETRY_TABLES.connectionsIndex,
  CONNECTION_TTL_SECONDS: "10800",
  ENVIRONMENT: "test",
  AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
});

const newConnectionId = () => `Conn${Date.now().toString(36)}${(counter++).toString(36)}=`;

function connectEvent(connectionId: string, buildingIds: string, query: Record<string, string> = {}) {
  return {
    requestContext: { routeKey: "$connect", eventType: "CONNECT", connectionId, authorizer: { principalId: "user-1", sub: "user-1", buildingIds } },
    queryStringParameters: query,
  };
}
const disconnectEvent = (connectionId: string) => ({
  requestContext: { routeKey: "$disconnect", eventType: "DISCONNECT", connectionId, authorizer: { principalId: "user-1" } },
});

async function rowsOf(connectionId: string): Promise<Record<string, unknown>[]> {
  const result = await documentClient(db.client).send(
    new QueryCommand({
      TableName: TELEMETRY_TABLES.connections,
      IndexName: TELEMETRY_TABLES.connectionsIndex,
      KeyConditionExpression: "connectionId = :id",
      ExpressionAttributeValues: { ":id": connectionId },
    }),
  );
  return result.Items ?? [];
}

async function rowsOfBuilding(buildingId: string): Promise<Record<string, unknown>[]> {
  const result = await documentClient(db.client).send(
    new QueryCommand({ TableName: TELEMETRY_TABLES.connections, KeyConditionExpression: "buildingId = :b", ExpressionAttributeValues: { ":b": buildingId } }),
  );
  return result.Items ?? [];
}

beforeAll(async () => {
  db = await startDynalite();
  await createTelemetryTables(db.client);
  handler = loadWith<ConnectionsModule>(CONNECTIONS, env()).mod.handler;
});
afterAll(async () => {
  await db.stop();
});
beforeEach(() => {
  logs = captureStdout();
});
afterEach(() => logs.restore());

describe("telemetry connections", () => {
  test("records a connection under each building the authorizer granted, with a TTL", async () => {
    // GIVEN a user of buildings hq and lab, connecting
    const id = newConnectionId();
    const before = Math.floor(Date.now() / 1000);
    // WHEN $connect runs
    const result = await handler(connectEvent(id, "hq,lab"));
    // THEN the connection is accepted and follows both buildings until three hours from now
    expect(result.statusCode).toBe(200);
    const rows = await rowsOf(id);
    expect(rows.map((r) => r.buildingId).sort()).toEqual(["hq", "lab"]);
    const full = (await rowsOfBuilding("hq")).find((r) => r.connectionId === id)!;
    expect(full.expiresAt).toBeGreaterThanOrEqual(before + 10800);
    expect(full.expiresAt).toBeLessThanOrEqual(before + 10801);
    expect(full.sub).toBe("user-1");
  });

  test("follows only the building asked for with ?buildingId=", async () => {
    // GIVEN a user of hq and lab asking for lab only
    const id = newConnectionId();
    // WHEN $connect runs
    const result = await handler(connectEvent(id, "hq,lab", { buildingId: "lab" }));
    // THEN the connection follows lab only
    expect(result.statusCode).toBe(200);
    expect((await rowsOf(id)).map((r) => r.buildingId)).toEqual(["lab"]);
  });

  test("records more buildings than one batch write holds", async () => {
    // GIVEN a user of 30 buildings (BatchWriteItem takes 25 at a time)
    const id = newConnectionId();
    const buildings = Array.from({ length: 30 }, (_, i) => `b${String(i).padStart(2, "0")}`);
    // WHEN $connect runs
    await handler(connectEvent(id, buildings.join(",")));
    // THEN all 30 rows exist
    expect((await rowsOf(id)).map((r) => r.buildingId).sort()).toEqual(buildings);
  });

  test.each([
    ["the requested building is not one of the user's", "hq", { buildingId: "warehouse" }, 403],
    ["the authorizer granted no building", "", {}, 403],
    ["the authorizer's buildings are all malformed", "../etc,a b", {}, 403],
  ])("fails when %s: refused and nothing is recorded", async (_name, buildingIds, query, status) => {
    // GIVEN a connection attempt that must not subscribe
    const id = newConnectionId();
    // WHEN $connect runs
    const result = await handler(connectEvent(id, buildingIds, query as Record<string, string>));
    // THEN it is refused and no row exists
    expect(result.statusCode).toBe(status);
    expect(await rowsOf(id)).toEqual([]);
  });

  test("fails when the connection id is missing: 400", async () => {
    const result = await handler({ requestContext: { routeKey: "$connect", authorizer: { buildingIds: "hq" } } });
    expect(result.statusCode).toBe(400);
  });

  test("removes every row of a connection on $disconnect and leaves other connections alone", async () => {
    // GIVEN two connections following hq
    const leaving = newConnectionId();
    const staying = newConnectionId();
    await handler(connectEvent(leaving, "hq,lab"));
    await handler(connectEvent(staying, "hq"));
    // WHEN one disconnects
    const result = await handler(disconnectEvent(leaving));
    // THEN its rows are gone and the other's remains
    expect(result.statusCode).toBe(200);
    expect(await rowsOf(leaving)).toEqual([]);
    expect((await rowsOf(staying)).map((r) => r.buildingId)).toEqual(["hq"]);
  });

  test("answers $disconnect of an unknown connection without error", async () => {
    expect((await handler(disconnectEvent(newConnectionId()))).statusCode).toBe(200);
  });

  test("ignores messages on $default (keep-alive pings)", async () => {
    // GIVEN a connected client sending a ping
    const id = newConnectionId();
    await putItem(db.client, TELEMETRY_TABLES.connections, { buildingId: "hq", connectionId: id, expiresAt: 1 });
    // WHEN it reaches $default THEN it is accepted and changes nothing
    expect((await handler({ requestContext: { routeKey: "$default", connectionId: id } })).statusCode).toBe(200);
    expect(await rowsOf(id)).toHaveLength(1);
  });

  test("fails when the function is misconfigured: the invocation fails", async () => {
    // GIVEN the function loaded without its table name
    const broken = loadWith<ConnectionsModule>(CONNECTIONS, { ...env(), CONNECTIONS_TABLE_NAME: undefined }).mod;
    // WHEN a client connects THEN the invocation throws, naming the variable
    await expect(broken.handler(connectEvent(newConnectionId(), "hq"))).rejects.toThrow(/CONNECTIONS_TABLE_NAME/);
    process.env.CONNECTIONS_TABLE_NAME = TELEMETRY_TABLES.connections;
  });
});
