/**
 * The per-device alert budget: whatever codes a device varies, at most `maxAlerts` alerts per device
 * per fixed window, then exactly one "muted" notice until the window ends. Without it a device (or
 * anyone holding its certificate) could send unlimited e-mails carrying its own text, one per code.
 *
 * One alert-state row per device and window (`device-budget#<thing>#<windowStart>`), counted with a
 * conditional ADD: DynamoDB applies conditional writes to one item one at a time, so concurrent
 * invocations can never take more than `maxAlerts` between them. The muted notice is claimed with
 * `attribute_not_exists(mutedAt)` on the same row, so exactly one invocation sends it.
 */
import { UpdateCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { isConditionalCheckFailed } from "../shared/aws";

export interface BudgetDeps {
  ddb: DynamoDBDocumentClient;
  alertStateTableName: string;
  /** Alerts one device may raise per window. */
  budgetPerDevice: number;
  budgetWindowSeconds: number;
}

export interface BudgetWindow {
  key: string;
  /** epoch seconds */
  startsAt: number;
  endsAt: number;
}

/** The fixed window `nowSeconds` falls in (aligned to the epoch, so every invocation agrees). */
export function budgetWindow(thingName: string, nowSeconds: number, windowSeconds: number): BudgetWindow {
  const startsAt = nowSeconds - (nowSeconds % windowSeconds);
  return { key: `device-budget#${thingName}#${startsAt}`, startsAt, endsAt: startsAt + windowSeconds };
}

export type BudgetDecision =
  /** within budget: alert; `used` counts this alert */
  | { kind: "within"; used: number; window: BudgetWindow }
  /** budget just ran out and this invocation won the one muted notice */
  | { kind: "mute"; window: BudgetWindow }
  /** budget ran out and the muted notice was already sent */
  | { kind: "over"; window: BudgetWindow };

export async function takeFromBudget(deps: BudgetDeps, thingName: string, nowSeconds: number): Promise<BudgetDecision> {
  const window = budgetWindow(thingName, nowSeconds, deps.budgetWindowSeconds);
  // TTL a window after the end: a row still present after its window is simply another key.
  const expiresAt = window.endsAt + deps.budgetWindowSeconds;
  try {
    const result = await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.alertStateTableName,
        Key: { alertKey: window.key },
        UpdateExpression: "SET thingName = :thing, expiresAt = :expiresAt ADD sentCount :one",
        ConditionExpression: "attribute_not_exists(sentCount) OR sentCount < :max",
        ExpressionAttributeValues: { ":thing": thingName, ":expiresAt": expiresAt, ":one": 1, ":max": deps.budgetPerDevice },
        ReturnValues: "UPDATED_NEW",
      }),
    );
    return { kind: "within", used: Number(result.Attributes?.sentCount ?? 0), window };
  } catch (error) {
    if (!isConditionalCheckFailed(error)) throw error;
  }
  try {
    await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.alertStateTableName,
        Key: { alertKey: window.key },
        UpdateExpression: "SET mutedAt = :now ADD mutedCount :one",
        ConditionExpression: "attribute_not_exists(mutedAt)",
        ExpressionAttributeValues: { ":now": nowSeconds, ":one": 1 },
      }),
    );
    return { kind: "mute", window };
  } catch (error) {
    if (!isConditionalCheckFailed(error)) throw error;
  }
  await countMuted(deps, window.key);
  return { kind: "over", window };
}

/** Gives one alert back (its publish failed, the retry takes it again). Best effort. */
export async function refundBudget(deps: BudgetDeps, decision: BudgetDecision): Promise<void> {
  try {
    if (decision.kind === "within") {
      await deps.ddb.send(
        new UpdateCommand({
          TableName: deps.alertStateTableName,
          Key: { alertKey: decision.window.key },
          UpdateExpression: "ADD sentCount :minusOne",
          ConditionExpression: "sentCount > :zero",
          ExpressionAttributeValues: { ":minusOne": -1, ":zero": 0 },
        }),
      );
    } else if (decision.kind === "mute") {
      await deps.ddb.send(
        new UpdateCommand({
          TableName: deps.alertStateTableName,
          Key: { alertKey: decision.window.key },
          UpdateExpression: "REMOVE mutedAt",
        }),
      );
    }
  } catch {
    // The budget then errs on the quiet side for the rest of the window.
  }
}

async function countMuted(deps: BudgetDeps, key: string): Promise<void> {
  try {
    await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.alertStateTableName,
        Key: { alertKey: key },
        UpdateExpression: "ADD mutedCount :one",
        ConditionExpression: "attribute_exists(alertKey)",
        ExpressionAttributeValues: { ":one": 1 },
      }),
    );
  } catch {
    // Only the count in the next notice is lost.
  }
}
