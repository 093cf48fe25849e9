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
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { ALERT_HANDLER } from "../../functions/alert-handler/contract";
import { COMMON_ENV } from "../../functions/shared/contract";
import { FAKE_AWS_ENV, createTables, startDynalite as startDynaliteServer } from "../../local/dynamo";

// The server and the table schemas live in local/dynamo.ts, shared with the local twin.
export { createTables };

export interface DynaliteOptions {
  /** @default "device-registry" */
  registryTableName?: string;
  /** @default "alert-state" */
  alertStateTableName?: string;
  /**
   * Also set the registry and alert-state table names in process.env (names from the function contracts).
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

export async function startDynalite(options: DynaliteOptions = {}): Promise<RunningDynalite> {
  const registryTableName = options.registryTableName ?? "device-registry";
  const alertStateTableName = options.alertStateTableName ?? "alert-state";

  const server = await startDynaliteServer();
  const { endpoint, port, client } = server;

  const env: Record<string, string> = { ...FAKE_AWS_ENV, AWS_ENDPOINT_URL_DYNAMODB: endpoint };
  if (options.setTableEnv ?? true) {
    env[COMMON_ENV.registryTableName] = registryTableName;
    env[ALERT_HANDLER.env.alertStateTableName] = alertStateTableName;
  }
  const previous = new Map<string, string | undefined>();
  for (const [key, value] of Object.entries(env)) {
    previous.set(key, process.env[key]);
    process.env[key] = value;
  }

  const stop = async (): Promise<void> => {
    for (const [key, value] of previous) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    await server.close();
  };

  try {
    await createTables(client, registryTableName, alertStateTableName);
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoint, port, registryTableName, alertStateTableName, client, stop };
}
