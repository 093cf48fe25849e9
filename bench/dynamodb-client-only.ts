/**
 * The yardstick for Lambda module-load time (npm run bench): a "handler" that only creates a
 * DynamoDB client, bundled by BundledFunction's esbuild options like the real handlers.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";

const client = new DynamoDBClient({});

export async function handler(): Promise<string> {
  return client.config.serviceId;
}
