/**
 * Business logic of the device-error alert handler: one SNS alert per (thing, error code) per
 * cooldown window. The window is a conditional put on the alert-state table; TTL (`expiresAt`,
 * epoch seconds) removes old rows eventually, and because TTL deletion lags by hours the condition
 * also treats an expired row that is still present as absent.
 */
import { DeleteCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { SNSClient } from "@aws-sdk/client-sns";
import * as z from "../shared/schema";
import { formatDuration, isoOrUnknown, publishAlert, type Alert } from "../shared/alerts";
import { isConditionalCheckFailed } from "../shared/aws";
import { serialNumberSchema } from "../shared/registry";

/** The device's error payload (docs/contracts.md) plus what the IoT rule adds. */
export const deviceErrorSchema = z.object({
  thingName: serialNumberSchema,
  code: z.string().check(z.minLength(1), z.maxLength(64), z.regex(/^[A-Za-z0-9_.:-]+$/, "must be 1 to 64 characters [A-Za-z0-9_.:-]")),
  message: z.optional(z.string().check(z.maxLength(100_000))),
  id: z.optional(z.nullable(z.string().check(z.maxLength(256)))),
  command: z.optional(z.nullable(z.string().check(z.maxLength(256)))),
  at: z.optional(z.string().check(z.maxLength(64))),
  /** epoch ms, added by the IoT rule (`timestamp() AS receivedAt`) */
  receivedAt: z.optional(z.int().check(z.nonnegative())),
});

export type DeviceError = z.infer<typeof deviceErrorSchema>;

export interface AlertDeps {
  ddb: DynamoDBDocumentClient;
  sns: SNSClient;
  alertStateTableName: string;
  topicArn: string;
  cooldownSeconds: number;
  environment: string;
  /** epoch ms */
  now: () => number;
  newClaimId: () => string;
}

export type AlertOutcome =
  | { outcome: "sent"; alertKey: string; messageId?: string; suppressedBefore: number }
  | { outcome: "suppressed"; alertKey: string };

export function alertKeyOf(error: Pick<DeviceError, "thingName" | "code">): string {
  return `device-error#${error.thingName}#${error.code}`;
}

export async function handleDeviceError(deps: AlertDeps, error: DeviceError): Promise<AlertOutcome> {
  const alertKey = alertKeyOf(error);
  const now = deps.now();
  const nowSeconds = Math.floor(now / 1000);
  const claimId = deps.newClaimId();

  let suppressedBefore = 0;
  try {
    const result = await deps.ddb.send(
      new PutCommand({
        TableName: deps.alertStateTableName,
        Item: {
          alertKey,
          thingName: error.thingName,
          code: error.code,
          claimId,
          sentAt: now,
          expiresAt: nowSeconds + deps.cooldownSeconds,
          suppressedCount: 0,
        },
        ConditionExpression: "attribute_not_exists(alertKey) OR expiresAt <= :nowSeconds",
        ExpressionAttributeValues: { ":nowSeconds": nowSeconds },
        ReturnValues: "ALL_OLD",
      }),
    );
    const old = result.Attributes;
    suppressedBefore = typeof old?.suppressedCount === "number" ? old.suppressedCount : 0;
  } catch (err) {
    if (!isConditionalCheckFailed(err)) throw err;
    await countSuppressed(deps, alertKey, nowSeconds);
    return { outcome: "suppressed", alertKey };
  }

  try {
    const alert = formatDeviceErrorAlert(error, {
      environment: deps.environment,
      cooldownSeconds: deps.cooldownSeconds,
      suppressedBefore,
      now,
    });
    const messageId = await publishAlert(deps.sns, deps.topicArn, alert);
    return { outcome: "sent", alertKey, messageId, suppressedBefore };
  } catch (err) {
    // Give the window back, so the retried invocation can alert.
    await releaseClaim(deps, alertKey, claimId);
    throw err;
  }
}

/** Best effort: how many repeats the current window swallowed, reported with the next alert. */
async function countSuppressed(deps: AlertDeps, alertKey: string, nowSeconds: number): Promise<void> {
  try {
    await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.alertStateTableName,
        Key: { alertKey },
        UpdateExpression: "ADD suppressedCount :one",
        ConditionExpression: "attribute_exists(alertKey) AND expiresAt > :nowSeconds",
        ExpressionAttributeValues: { ":one": 1, ":nowSeconds": nowSeconds },
      }),
    );
  } catch {
    // A lost count is harmless; the suppression decision is already made.
  }
}

async function releaseClaim(deps: AlertDeps, alertKey: string, claimId: string): Promise<void> {
  try {
    await deps.ddb.send(
      new DeleteCommand({
        TableName: deps.alertStateTableName,
        Key: { alertKey },
        ConditionExpression: "claimId = :claimId",
        ExpressionAttributeValues: { ":claimId": claimId },
      }),
    );
  } catch {
    // If this fails too, the window simply runs out (at most one cooldown without an alert).
  }
}

const MESSAGE_BODY_MAX = 2000;

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}... (${text.length - max} more characters)`;
}

export function formatDeviceErrorAlert(
  error: DeviceError,
  options: { environment: string; cooldownSeconds: number; suppressedBefore: number; now: number },
): Alert {
  const message = error.message?.trim() ? error.message.trim() : "(no message)";
  const lines = [
    `Device ${error.thingName} reported an error in ${options.environment}.`,
    "",
    `Code:        ${error.code}`,
    `Message:     ${clip(message, MESSAGE_BODY_MAX)}`,
    `Command:     ${error.command ?? "(none)"}`,
    `Request id:  ${error.id ?? "(none)"}`,
    `Device time: ${error.at ?? "(not given)"}`,
    `Received:    ${isoOrUnknown(error.receivedAt ?? options.now)}`,
    "",
    `Further ${error.code} errors from ${error.thingName} are not alerted for ${formatDuration(options.cooldownSeconds * 1000)}.`,
  ];
  if (options.suppressedBefore > 0) {
    lines.push(`${options.suppressedBefore} repeat(s) of this error were suppressed in the previous window.`);
  }
  const firstLine = message.split("\n", 1)[0];
  return {
    subject: `[${options.environment}] ${error.thingName} error ${error.code}: ${firstLine}`,
    message: lines.join("\n"),
  };
}
