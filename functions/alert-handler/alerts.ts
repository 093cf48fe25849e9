/**
 * Business logic of the device-error alert handler: one SNS alert per (thing, error code) per
 * cooldown window, and at most the device's budget of alerts per budget window whatever the code
 * (budget.ts). The cooldown is a conditional put on the alert-state table; TTL (`expiresAt`,
 * epoch seconds) removes old rows eventually, and because TTL deletion lags by hours the condition
 * also treats an expired row that is still present as absent.
 */
import { DeleteCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { SNSClient } from "@aws-sdk/client-sns";
import * as z from "../shared/schema";
import { formatDuration, isoOrUnknown, publishAlert, type Alert } from "../shared/alerts";
import { isConditionalCheckFailed } from "../shared/aws";
import { serialNumberSchema } from "../shared/registry";
import { refundBudget, takeFromBudget, type BudgetDecision, type BudgetWindow } from "./budget";

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
  /** Alerts one device may raise per budget window, whatever the code. */
  budgetPerDevice: number;
  budgetWindowSeconds: number;
  environment: string;
  /** epoch ms */
  now: () => number;
  newClaimId: () => string;
}

export type AlertOutcome =
  | { outcome: "sent"; alertKey: string; messageId?: string; suppressedBefore: number }
  /** the device used up its budget with this error: the one "muted" notice was sent instead */
  | { outcome: "muted"; alertKey: string; messageId?: string }
  | { outcome: "suppressed"; alertKey: string; reason: "cooldown" | "budget" };

export function alertKeyOf(error: Pick<DeviceError, "thingName" | "code">): string {
  return `device-error#${error.thingName}#${error.code}`;
}

export async function handleDeviceError(deps: AlertDeps, error: DeviceError): Promise<AlertOutcome> {
  const alertKey = alertKeyOf(error);
  const now = deps.now();
  const nowSeconds = Math.floor(now / 1000);
  const claimId = deps.newClaimId();

  let suppressedBefore: number;
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
    return { outcome: "suppressed", alertKey, reason: "cooldown" };
  }

  // The budget is taken only for errors the cooldown let through: repeats of one code never use it.
  let budget: BudgetDecision;
  try {
    budget = await takeFromBudget(deps, error.thingName, nowSeconds);
  } catch (err) {
    await releaseClaim(deps, alertKey, claimId);
    throw err;
  }
  // Over budget: the cooldown claim stays, so repeats of this code are not even counted against it.
  if (budget.kind === "over") return { outcome: "suppressed", alertKey, reason: "budget" };

  try {
    const options = { environment: deps.environment, cooldownSeconds: deps.cooldownSeconds, suppressedBefore, now };
    const alert =
      budget.kind === "mute"
        ? formatMutedNotice(error, { ...options, budgetPerDevice: deps.budgetPerDevice, window: budget.window })
        : formatDeviceErrorAlert(error, options);
    const messageId = await publishAlert(deps.sns, deps.topicArn, alert);
    return budget.kind === "mute" ? { outcome: "muted", alertKey, messageId } : { outcome: "sent", alertKey, messageId, suppressedBefore };
  } catch (err) {
    // Give the window and the budget back, so the retried invocation can alert.
    await Promise.all([releaseClaim(deps, alertKey, claimId), refundBudget(deps, budget)]);
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

/** The one notice a device gets when it uses up its budget; everything else in the window is only counted. */
export function formatMutedNotice(error: DeviceError, options: { environment: string; budgetPerDevice: number; window: BudgetWindow; now: number }): Alert {
  const windowLength = formatDuration((options.window.endsAt - options.window.startsAt) * 1000);
  const until = isoOrUnknown(options.window.endsAt * 1000);
  return {
    subject: `[${options.environment}] ${error.thingName} muted until ${until.slice(11, 16)} UTC: ${options.budgetPerDevice} alerts in ${windowLength}`,
    message: [
      `Device ${error.thingName} raised ${options.budgetPerDevice} alerts within ${windowLength} in ${options.environment}, its budget.`,
      `Its further errors, whatever their code, are not alerted until ${until}.`,
      "",
      `The error that used up the budget: ${error.code}`,
      `Received:    ${isoOrUnknown(error.receivedAt ?? options.now)}`,
      "",
      "A device alerting this often is broken, misconfigured or misused (its certificate may be in other hands).",
      "Its errors are still in the alert handler's log; the AlertsSuppressedBudget metric counts them.",
    ].join("\n"),
  };
}
