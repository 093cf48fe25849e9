/**
 * How far the hourly rollup job (functions/telemetry-rollup) has rolled the hot store: one item of the
 * rollup table whose `watermark` is the exclusive end (epoch ms, a whole hour) of the hours rolled, so
 * every hour that ended at or before it has its rollup items (one per device-hour with readings).
 * The dashboard API reads rollups only below it and raw readings from it on.
 *
 * The item lives in the rollup table under a thing name no device can have: serial numbers (= thing
 * names) start with a letter or digit (SERIAL_NUMBER_PATTERN in registry.ts), this one with `#`. It has
 * no TTL. It only ever moves forward: the write is conditional, so two overlapping runs cannot move it back.
 */
import { QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { isConditionalCheckFailed } from "./aws";
import { HOUR_MS } from "./telemetry-rollup";

export const WATERMARK_KEY = { thingName: "#rollup-watermark", hour: 0 } as const;

/**
 * The watermark, or undefined when no run has finished an hour yet. Read with a Query on its key, not
 * a GetItem, so readers need no permission beyond the Query they already have on the table; a stale
 * (eventually consistent) value is an older, smaller one: readers then read more raw readings, never wrong ones.
 */
export async function readWatermark(
  ddb: DynamoDBDocumentClient,
  rollupTableName: string,
  options: { consistent?: boolean; signal?: AbortSignal } = {},
): Promise<number | undefined> {
  const page = await ddb.send(
    new QueryCommand({
      TableName: rollupTableName,
      KeyConditionExpression: "#thing = :thing AND #hour = :hour",
      ProjectionExpression: "#watermark",
      ExpressionAttributeNames: { "#thing": "thingName", "#hour": "hour", "#watermark": "watermark" },
      ExpressionAttributeValues: { ":thing": WATERMARK_KEY.thingName, ":hour": WATERMARK_KEY.hour },
      ConsistentRead: options.consistent ?? false,
    }),
    { abortSignal: options.signal },
  );
  const value = page.Items?.[0]?.watermark;
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value % HOUR_MS !== 0) {
    throw new Error(`the rollup watermark item holds ${JSON.stringify(value)}, not a whole hour in epoch ms: delete it to roll the hot store again`);
  }
  return value;
}

/**
 * Moves the watermark to `to` when it is lower (or missing). False when another run already moved it
 * to `to` or beyond: this run is then behind and should stop.
 */
export async function advanceWatermark(ddb: DynamoDBDocumentClient, rollupTableName: string, to: number, now: number, signal?: AbortSignal): Promise<boolean> {
  try {
    await ddb.send(
      new UpdateCommand({
        TableName: rollupTableName,
        Key: { ...WATERMARK_KEY },
        UpdateExpression: "SET #watermark = :to, #updatedAt = :now",
        ConditionExpression: "attribute_not_exists(#watermark) OR #watermark < :to",
        ExpressionAttributeNames: { "#watermark": "watermark", "#updatedAt": "updatedAt" },
        ExpressionAttributeValues: { ":to": to, ":now": now },
      }),
      { abortSignal: signal },
    );
    return true;
  } catch (error) {
    if (isConditionalCheckFailed(error)) return false;
    throw error;
  }
}
