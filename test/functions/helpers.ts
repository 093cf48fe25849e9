/** Helpers shared by the function tests (not a test file itself). */
import { createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, ScanCommand } from "@aws-sdk/lib-dynamodb";
import { mockClient, type AwsStub } from "aws-sdk-client-mock";
import type { APIGatewayProxyEvent } from "aws-lambda";
import { startDynalite, type RunningDynalite } from "../support/dynalite";

export const ALLOWED_DEVICE_TYPES = "thermostat,smart-plug,sensor-hub";
export const TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:fleet-alerts";

type SnsModule = typeof import("@aws-sdk/client-sns");

/**
 * Sets `env` (undefined deletes a variable) and requires `modulePath` in a fresh module registry
 * together with `alsoLoad` (e.g. an SDK client package), so `mockClient()` on the returned copy
 * intercepts the module's own client.
 */
export function loadWith<T>(
  modulePath: string,
  env: Record<string, string | undefined>,
  alsoLoad: readonly string[] = [],
): { mod: T; extra: Record<string, unknown> } {
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  let mod: T | undefined;
  const extra: Record<string, unknown> = {};
  jest.isolateModules(() => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded once the environment is set: the module reads its configuration at load
    for (const name of alsoLoad) extra[name] = require(name);
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded once the environment is set: the module reads its configuration at load
    mod = require(modulePath) as T;
  });
  return { mod: mod as T, extra };
}

/**
 * {@link loadWith} for handlers that publish to SNS: the SNS module is loaded in the same registry,
 * so `mockClient(loaded.sns.SNSClient)` intercepts the handler's own SNS client.
 */
export function loadIsolated<T>(modulePath: string, env: Record<string, string | undefined> = {}): { mod: T; sns: SnsModule } {
  const { mod, extra } = loadWith<T>(modulePath, env, ["@aws-sdk/client-sns"]);
  return { mod, sns: extra["@aws-sdk/client-sns"] as SnsModule };
}

let counter = 0;
/** A serial number unique within the test run, valid per docs/contracts.md. */
export function uniqueSerial(prefix = "SN"): string {
  counter += 1;
  return `${prefix}${Date.now().toString(36)}${counter.toString().padStart(4, "0")}`.toUpperCase();
}

export function documentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

export async function putItem(client: DynamoDBClient, table: string, item: Record<string, unknown>): Promise<void> {
  await documentClient(client).send(new PutCommand({ TableName: table, Item: item }));
}

export async function getItem(client: DynamoDBClient, table: string, key: Record<string, unknown>): Promise<Record<string, unknown> | undefined> {
  const result = await documentClient(client).send(new GetCommand({ TableName: table, Key: key, ConsistentRead: true }));
  return result.Item;
}

/** A registry row as the registration API writes it, with overrides. */
export function registeredDevice(serialNumber: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = new Date().toISOString();
  return {
    serialNumber,
    thingName: serialNumber,
    deviceType: "thermostat",
    status: "REGISTERED",
    registeredAt: now,
    updatedAt: now,
    ...overrides,
  };
}

/** Captures what the code under test writes to stdout (the structured logs) and keeps the output clean. */
export function captureStdout(): { lines: () => Record<string, unknown>[]; restore: () => void } {
  const raw: string[] = [];
  const spy = jest.spyOn(process.stdout, "write").mockImplementation((chunk: unknown) => {
    raw.push(String(chunk));
    return true;
  });
  return {
    lines: () =>
      raw
        .join("")
        .split("\n")
        .filter((l) => l.trim().length > 0)
        .map((l) => {
          try {
            return JSON.parse(l) as Record<string, unknown>;
          } catch {
            return { unparsable: l };
          }
        }),
    restore: () => spy.mockRestore(),
  };
}

/** A TCP server that accepts connections and never answers (DynamoDB "hanging"). */
export async function startBlackHole(): Promise<{ endpoint: string; stop: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A loopback port that nothing listens on (connection refused). */
export async function closedPortEndpoint(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/** Deletes every item of a table (tests that scan the whole registry start from empty). */
export async function clearTable(client: DynamoDBClient, table: string, keyName: string): Promise<void> {
  const doc = documentClient(client);
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await doc.send(
      new ScanCommand({ TableName: table, ProjectionExpression: "#k", ExpressionAttributeNames: { "#k": keyName }, ExclusiveStartKey: startKey }),
    );
    await Promise.all((page.Items ?? []).map((item) => doc.send(new DeleteCommand({ TableName: table, Key: { [keyName]: item[keyName] } }))));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
}

/** What {@link useHandler} gives a test file; every field is set once `beforeAll` has run. */
export interface HandlerHarness<T> {
  readonly db: RunningDynalite;
  /** The handler module, loaded with the harness's environment. */
  readonly mod: T;
  /** The SNS module loaded next to the handler (for `PublishCommand` and mocking its client). */
  readonly sns: SnsModule;
  /** stdout (the handler's JSON logs) captured during the current test. */
  readonly logs: ReturnType<typeof captureStdout>;
}

/**
 * The setup every handler test needs: dynalite for the file, the handler loaded in an isolated module
 * registry with `env(db)`, and stdout captured per test. `beforeEachTest` runs before each test.
 */
export function useHandler<T>(
  modulePath: string,
  env: (db: RunningDynalite) => Record<string, string | undefined>,
  options: { beforeEachTest?: (db: RunningDynalite) => Promise<void> } = {},
): HandlerHarness<T> {
  const state = {} as { db: RunningDynalite; mod: T; sns: SnsModule; logs: ReturnType<typeof captureStdout> };
  beforeAll(async () => {
    state.db = await startDynalite();
    const loaded = loadIsolated<T>(modulePath, env(state.db));
    state.mod = loaded.mod;
    state.sns = loaded.sns;
  });
  afterAll(async () => state.db?.stop());
  beforeEach(async () => {
    if (options.beforeEachTest) await options.beforeEachTest(state.db);
    state.logs = captureStdout();
  });
  afterEach(() => state.logs.restore());
  return {
    get db() {
      return state.db;
    },
    get mod() {
      return state.mod;
    },
    get sns() {
      return state.sns;
    },
    get logs() {
      return state.logs;
    },
  };
}

/** {@link useHandler} for a handler that publishes to SNS. */
export interface SnsHandlerHarness<T> extends HandlerHarness<T> {
  readonly snsMock: AwsStub<any, any, any>;
  /** Inputs of every SNS Publish in the current test. */
  publishes(): { TopicArn: string; Subject: string; Message: string }[];
}

/** {@link useHandler}, with the handler's own SNS client mocked: Publish succeeds unless a test says otherwise. */
export function useSnsHandler<T>(
  modulePath: string,
  env: (db: RunningDynalite) => Record<string, string | undefined>,
  options: { beforeEachTest?: (db: RunningDynalite) => Promise<void> } = {},
): SnsHandlerHarness<T> {
  const base = useHandler<T>(modulePath, env, options);
  let snsMock: AwsStub<any, any, any>;
  beforeAll(() => {
    snsMock = mockClient(base.sns.SNSClient);
  });
  afterAll(() => snsMock?.restore());
  beforeEach(() => {
    snsMock.reset();
    snsMock.on(base.sns.PublishCommand).resolves({ MessageId: "msg-1" });
  });
  return {
    get db() {
      return base.db;
    },
    get mod() {
      return base.mod;
    },
    get sns() {
      return base.sns;
    },
    get logs() {
      return base.logs;
    },
    get snsMock() {
      return snsMock;
    },
    publishes: () => snsMock.commandCalls(base.sns.PublishCommand).map((c) => c.args[0].input as { TopicArn: string; Subject: string; Message: string }),
  };
}

/** An API Gateway (REST, proxy) event for the registration API; `/devices/{serialNumber}` gets its resource and path parameter. */
export function apiEvent(method: string, path: string, body?: unknown, extra: Partial<APIGatewayProxyEvent> = {}): APIGatewayProxyEvent {
  const serial = /^\/devices\/([^/]+)$/.exec(path)?.[1];
  return {
    httpMethod: method,
    path,
    resource: serial ? "/devices/{serialNumber}" : path,
    pathParameters: serial ? { serialNumber: decodeURIComponent(serial) } : null,
    body: body === undefined ? null : typeof body === "string" ? body : JSON.stringify(body),
    isBase64Encoded: false,
    headers: { "Content-Type": "application/json" },
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    stageVariables: null,
    requestContext: {} as APIGatewayProxyEvent["requestContext"],
    ...extra,
  };
}
