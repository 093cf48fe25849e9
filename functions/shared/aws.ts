/**
 * AWS SDK v3 clients shared by the handlers. They are plain clients, so the standard
 * `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL_SNS` variables point them at local servers.
 * A client is created once per module (connection reuse across invocations); it holds no state
 * that one invocation can leak into the next.
 *
 * Credentials come from the environment only (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN: what Lambda sets from the execution role; the twin and the tests set them too),
 * never from the SDK's whole provider chain, which the bundles leave out (no-credential-chain.ts).
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { SNSClient } from "@aws-sdk/client-sns";
import { IoTClient } from "@aws-sdk/client-iot";
import { fromEnv } from "@aws-sdk/credential-provider-env";

export interface ClientTimeouts {
  /** TCP/TLS connect timeout. @default 1000 */
  connectionTimeoutMs?: number;
  /** Whole-request timeout (it throws, it does not only warn). @default 3000 */
  requestTimeoutMs?: number;
  /** Attempts including the first one. @default 3 */
  maxAttempts?: number;
}

/**
 * The `requestHandler` options-object form makes the SDK build its own NodeHttpHandler, so the
 * functions do not import @smithy/node-http-handler (a transitive dependency) directly.
 */
export function requestHandlerOptions(t: ClientTimeouts) {
  return {
    connectionTimeout: t.connectionTimeoutMs ?? 1000,
    requestTimeout: t.requestTimeoutMs ?? 3000,
    throwOnRequestTimeout: true,
  };
}

/** The credentials every function client uses: Lambda's environment variables, read when first needed. */
export const environmentCredentials = fromEnv();

/**
 * The configuration every SDK client of a function is built with: credentials from the environment
 * (the bundles replace the SDK's default chain with a stub that fails: no-credential-chain.ts), a
 * bounded number of attempts and request timeouts that throw.
 */
export function clientConfig(timeouts: ClientTimeouts = {}) {
  return { maxAttempts: timeouts.maxAttempts ?? 3, requestHandler: requestHandlerOptions(timeouts), credentials: environmentCredentials };
}

export function createDocumentClient(timeouts: ClientTimeouts = {}): DynamoDBDocumentClient {
  const client = new DynamoDBClient(clientConfig(timeouts));
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true },
  });
}

export function createSnsClient(timeouts: ClientTimeouts = {}): SNSClient {
  return new SNSClient(clientConfig(timeouts));
}

/** The IoT control plane (`AWS_ENDPOINT_URL_IOT` points it at the twin's stand-in). */
export function createIotClient(timeouts: ClientTimeouts = {}): IoTClient {
  return new IoTClient(clientConfig(timeouts));
}

/**
 * `create()`'s object, created when first used rather than at module load: for a client only some
 * invocations need (an alert topic that most events never publish to), so it adds nothing to the
 * cold start of the others. Building an SDK client (config resolution, middleware stack) costs
 * about as much as loading a DynamoDB-only bundle's module code.
 */
export function onFirstUse<T extends object>(create: () => T): T {
  let real: T | undefined;
  return new Proxy({} as T, {
    get(_target, property) {
      real ??= create();
      const value: unknown = Reflect.get(real, property, real);
      return typeof value === "function" ? value.bind(real) : value;
    },
  });
}

export function isConditionalCheckFailed(error: unknown): boolean {
  return error instanceof Error && error.name === "ConditionalCheckFailedException";
}
