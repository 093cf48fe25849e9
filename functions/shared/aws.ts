/**
 * AWS SDK v3 clients shared by the handlers. They are plain clients, so the standard
 * `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL_SNS` variables point them at local servers.
 * A client is created once per module (connection reuse across invocations); it holds no state
 * that one invocation can leak into the next.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { SNSClient } from "@aws-sdk/client-sns";
import { IoTClient } from "@aws-sdk/client-iot";

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
function requestHandlerOptions(t: ClientTimeouts) {
  return {
    connectionTimeout: t.connectionTimeoutMs ?? 1000,
    requestTimeout: t.requestTimeoutMs ?? 3000,
    throwOnRequestTimeout: true,
  };
}

export function createDocumentClient(timeouts: ClientTimeouts = {}): DynamoDBDocumentClient {
  const client = new DynamoDBClient({
    maxAttempts: timeouts.maxAttempts ?? 3,
    requestHandler: requestHandlerOptions(timeouts),
  });
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true },
  });
}

export function createSnsClient(timeouts: ClientTimeouts = {}): SNSClient {
  return new SNSClient({
    maxAttempts: timeouts.maxAttempts ?? 3,
    requestHandler: requestHandlerOptions(timeouts),
  });
}

/** The IoT control plane (`AWS_ENDPOINT_URL_IOT` points it at the twin's stand-in). */
export function createIotClient(timeouts: ClientTimeouts = {}): IoTClient {
  return new IoTClient({
    maxAttempts: timeouts.maxAttempts ?? 3,
    requestHandler: requestHandlerOptions(timeouts),
  });
}

export function isConditionalCheckFailed(error: unknown): boolean {
  return error instanceof Error && error.name === "ConditionalCheckFailedException";
}
