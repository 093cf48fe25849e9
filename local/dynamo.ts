/**
 * A real DynamoDB-compatible server for the local twin and the tests: dynalite (in memory) on
 * 127.0.0.1, with the device registry and alert-state tables the `iot` stack creates
 * (docs/contracts.md: registry keyed by `serialNumber`, alert state keyed by `alertKey` with TTL on
 * `expiresAt`).
 *
 * ```ts
 * const db = await startDynalite();
 * await createTables(db.client, "shf-dev-device-registry", "shf-dev-alert-state");
 * process.env.AWS_ENDPOINT_URL_DYNAMODB = db.endpoint;   // the functions' SDK clients follow it
 * await db.close();
 * ```
 */
import { spawn } from "node:child_process";
import type { Server } from "node:http";
import * as path from "node:path";
import type { AddressInfo } from "node:net";
import { CreateTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";

// dynalite ships no type declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- dynalite ships no types
const dynalite = require("dynalite") as (options: { createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }) => Server;

/** Static fake credentials and region: the SDK needs some, dynalite and the SNS sink ignore them. */
export const FAKE_AWS_ENV: Readonly<Record<string, string>> = {
  AWS_REGION: "eu-west-1",
  AWS_ACCESS_KEY_ID: "AKIAIOSFODNN7EXAMPLE",
  AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  // Node 20 here (Lambda runs 22): the SDK's "upgrade Node" notice is noise.
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
};

export interface DynaliteServer {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly port: number;
  /** A plain client on this server (for seeding and assertions). */
  readonly client: DynamoDBClient;
  close(): Promise<void>;
}

export interface StartDynaliteOptions {
  /** @default a random free port */
  readonly port?: number;
  /** Region of the returned client. @default FAKE_AWS_ENV.AWS_REGION */
  readonly region?: string;
}

/** Start an in-memory dynalite on 127.0.0.1 (tables are created instantly). */
export async function startDynalite(options: StartDynaliteOptions = {}): Promise<DynaliteServer> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: options.region ?? FAKE_AWS_ENV.AWS_REGION,
    credentials: { accessKeyId: FAKE_AWS_ENV.AWS_ACCESS_KEY_ID!, secretAccessKey: FAKE_AWS_ENV.AWS_SECRET_ACCESS_KEY! },
  });
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closed ??= (async () => {
      client.destroy();
      // Keep-alive sockets of SDK clients in the code under test would hold close() open.
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    })());
  return { endpoint, port, client, close };
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

/**
 * dynalite in a child process (its own core): for benchmarks, so dynalite's CPU time does not queue on
 * the event loop of the code being measured. Killed on close or when this process exits.
 */
export async function startDynaliteProcess(options: StartDynaliteOptions = {}): Promise<DynaliteServer> {
  const script = `
    const server = require("dynalite")({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    server.listen(${options.port ?? 0}, "127.0.0.1", () => process.send(server.address().port));
    process.on("disconnect", () => process.exit(0));`;
  const child = spawn(process.execPath, ["-e", script], { cwd: path.resolve(__dirname, ".."), stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once("message", (m) => resolve(Number(m)));
    child.once("exit", (code) => reject(new Error(`dynalite child exited with ${code}`)));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: options.region ?? FAKE_AWS_ENV.AWS_REGION,
    credentials: { accessKeyId: FAKE_AWS_ENV.AWS_ACCESS_KEY_ID!, secretAccessKey: FAKE_AWS_ENV.AWS_SECRET_ACCESS_KEY! },
  });
  return {
    endpoint,
    port,
    client,
    close: async () => {
      client.destroy();
      child.kill();
    },
  };
}
