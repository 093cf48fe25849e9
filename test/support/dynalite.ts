/**
 * Starts an in-memory dynalite (a real DynamoDB-compatible server) on 127.0.0.1 with a random port,
 * creates the device registry and alert-state tables (schemas as in docs/contracts.md), and points
 * the AWS SDK at it through the standard environment variables. `stop()` closes the server and
 * restores the environment it changed.
 *
 *   const db = await startDynalite();
 *   ... process.env.AWS_ENDPOINT_URL_DYNAMODB is db.endpoint ...
 *   await db.stop();
 */
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { CreateTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";

// dynalite ships no type declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dynalite = require("dynalite") as (options: { createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }) => Server;

export interface DynaliteOptions {
  /** @default "device-registry" */
  registryTableName?: string;
  /** @default "alert-state" */
  alertStateTableName?: string;
  /**
   * Also set REGISTRY_TABLE_NAME and ALERT_STATE_TABLE_NAME in process.env.
   * @default true
   */
  setTableEnv?: boolean;
}

export interface RunningDynalite {
  endpoint: string;
  port: number;
  registryTableName: string;
  alertStateTableName: string;
  /** A plain client on this server (for seeding and assertions). */
  client: DynamoDBClient;
  stop(): Promise<void>;
}

const FAKE_ENV = {
  AWS_REGION: "eu-west-1",
  AWS_ACCESS_KEY_ID: "AKIAIOSFODNN7EXAMPLE",
  AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  // Tests run on Node 20 (Lambda runs 22): the SDK's "upgrade Node" notice is noise here.
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
};

export async function startDynalite(options: DynaliteOptions = {}): Promise<RunningDynalite> {
  const registryTableName = options.registryTableName ?? "device-registry";
  const alertStateTableName = options.alertStateTableName ?? "alert-state";

  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const endpoint = `http://127.0.0.1:${port}`;

  const env: Record<string, string> = { ...FAKE_ENV, AWS_ENDPOINT_URL_DYNAMODB: endpoint };
  if (options.setTableEnv ?? true) {
    env.REGISTRY_TABLE_NAME = registryTableName;
    env.ALERT_STATE_TABLE_NAME = alertStateTableName;
  }
  const previous = new Map<string, string | undefined>();
  for (const [key, value] of Object.entries(env)) {
    previous.set(key, process.env[key]);
    process.env[key] = value;
  }

  const client = new DynamoDBClient({ endpoint, region: FAKE_ENV.AWS_REGION, credentials: {
    accessKeyId: FAKE_ENV.AWS_ACCESS_KEY_ID,
    secretAccessKey: FAKE_ENV.AWS_SECRET_ACCESS_KEY,
  } });

  const stop = async (): Promise<void> => {
    client.destroy();
    for (const [key, value] of previous) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    // Keep-alive sockets of SDK clients in the code under test would hold close() open.
    server.closeAllConnections();
    await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  };

  try {
    await createTables(client, registryTableName, alertStateTableName);
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoint, port, registryTableName, alertStateTableName, client, stop };
}

/** Creates the registry (`serialNumber`) and alert-state (`alertKey`) tables on any DynamoDB endpoint. */
export async function createTables(client: DynamoDBClient, registry: string, alertState: string): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: registry,
      BillingMode: "PAY_PER_REQUEST",
      AttributeDefinitions: [{ AttributeName: "serialNumber", AttributeType: "S" }],
      KeySchema: [{ AttributeName: "serialNumber", KeyType: "HASH" }],
    }),
  );
  // TTL on `expiresAt` is configured by the infrastructure; dynalite does not implement TTL
  // deletion, which is exactly the "expired but still present" case the code must handle.
  await client.send(
    new CreateTableCommand({
      TableName: alertState,
      BillingMode: "PAY_PER_REQUEST",
      AttributeDefinitions: [{ AttributeName: "alertKey", AttributeType: "S" }],
      KeySchema: [{ AttributeName: "alertKey", KeyType: "HASH" }],
    }),
  );
}
