/**
 * The twin's DynamoDB tables, with the keys the stacks synthesize: the registry and alert state (iot
 * stack), and the latest-reading and hourly-rollup tables the dashboard API reads (telemetry stack).
 * The twin runs the broadcaster (telemetry-broadcast), which fills them as on AWS.
 */
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { ResourceNames } from "../stacks/shared/naming";
import { createTables } from "./dynamo";
import { createSynthesizedTable } from "./twin-rules";

export async function createTwinTables(client: DynamoDBClient, names: ResourceNames): Promise<void> {
  await createTables(client, names.registryTable, names.alertStateTable);
  for (const [tableName, hashKey, rangeKey, rangeType] of [
    [names.telemetryLatestTable, "buildingId", "thingName", "S"],
    [names.telemetryRollupTable, "thingName", "hour", "N"],
  ] as const)
    await createSynthesizedTable(client, { tableName, hashKey, rangeKey, attributes: { [hashKey]: "S", [rangeKey]: rangeType } });
}
