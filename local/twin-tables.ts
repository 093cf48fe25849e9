/**
 * The twin's DynamoDB tables, with the keys the stacks synthesize: the registry and alert state (iot
 * stack), and the hourly-rollup table the dashboard API reads (telemetry stack), which the rollup job
 * fills as on AWS.
 */
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { ResourceNames } from "../stacks/shared/naming";
import { createTables } from "./dynamo";
import { createSynthesizedTable } from "./twin-rules";

export async function createTwinTables(client: DynamoDBClient, names: ResourceNames): Promise<void> {
  await createTables(client, names.registryTable, names.alertStateTable);
  await createSynthesizedTable(client, {
    tableName: names.telemetryRollupTable,
    hashKey: "thingName",
    rangeKey: "hour",
    attributes: { thingName: "S", hour: "N" },
  });
}
