/** Building ids as API input, and the building of a device as the registry records it. */
import { GetCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import * as z from "./schema";
import { BUILDING_ID_PATTERN, buildingOfItem } from "./buildings";

export const buildingIdSchema = z
  .string()
  .check(
    z.maxLength(64, "must be at most 64 characters"),
    z.regex(BUILDING_ID_PATTERN, "must be 1 to 64 characters [A-Za-z0-9_.-], starting with a letter or digit"),
  );

/** The building of a device (`metadata.buildingId` of its registry row), or undefined when unknown or unassigned. */
export async function buildingOfDevice(ddb: DynamoDBDocumentClient, registryTableName: string, thingName: string): Promise<string | undefined> {
  const result = await ddb.send(
    new GetCommand({
      TableName: registryTableName,
      Key: { serialNumber: thingName },
      ProjectionExpression: "#metadata",
      ExpressionAttributeNames: { "#metadata": "metadata" },
    }),
  );
  return buildingOfItem(result.Item);
}
