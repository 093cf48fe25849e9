/**
 * Delivers one alert notification to every Slack and webhook channel. Channels are independent: all
 * are tried, those that succeeded are recorded in the alert-state table (so the retry of a partly
 * failed invocation does not post twice to the channels that already have it), and any failure
 * makes the invocation fail, so Lambda retries it and finally sends it to the dead-letter queue.
 */
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { ChannelSpec } from "./contract";
import { DeliveryError, hostOf, parseTarget, postJson } from "./deliver";
import { payloadFor, type AlertNotification } from "./format";

export interface ForwardDeps {
  ddb: DynamoDBDocumentClient;
  alertStateTableName: string;
  channels: readonly ChannelSpec[];
  environment: string;
  timeoutMs: number;
  /** Extra trust root for the receivers' TLS (tests, private receivers). @default Node's trust store */
  ca?: string;
  /** The secret's current value (Secrets Manager GetSecretValue). */
  readSecret: (secretId: string) => Promise<string>;
  /** epoch ms */
  now: () => number;
}

export type ChannelOutcome =
  | { channel: string; kind: string; outcome: "delivered"; host: string; status: number }
  | { channel: string; kind: string; outcome: "already-delivered" }
  | { channel: string; kind: string; outcome: "failed"; error: string; permanent: boolean };

/** Markers live two days: far longer than Lambda retries an asynchronous event (6 hours at most). */
const MARKER_TTL_SECONDS = 2 * 86400;

export const deliveryKey = (messageId: string, channel: string) => `delivery#${messageId}#${channel}`;

export async function forwardAlert(deps: ForwardDeps, alert: AlertNotification): Promise<ChannelOutcome[]> {
  return Promise.all(deps.channels.map((channel) => deliverOnce(deps, channel, alert)));
}

async function deliverOnce(deps: ForwardDeps, channel: ChannelSpec, alert: AlertNotification): Promise<ChannelOutcome> {
  const base = { channel: channel.name, kind: channel.kind };
  const key = deliveryKey(alert.messageId, channel.name);
  try {
    const seen = await deps.ddb.send(new GetCommand({ TableName: deps.alertStateTableName, Key: { alertKey: key }, ConsistentRead: true }));
    if (seen.Item) return { ...base, outcome: "already-delivered" };

    let secret: string;
    try {
      secret = await deps.readSecret(channel.secretId);
    } catch (error) {
      const name = error instanceof Error ? error.name : "Error";
      throw new DeliveryError(`secret ${channel.secretId} could not be read (${name}); put the channel URL into it`, false);
    }
    const target = parseTarget(secret);
    const status = await postJson(target, payloadFor(channel.kind, alert, deps.environment), { timeoutMs: deps.timeoutMs, ca: deps.ca });
    await deps.ddb
      .send(
        new PutCommand({
          TableName: deps.alertStateTableName,
          Item: { alertKey: key, deliveredAt: deps.now(), expiresAt: Math.floor(deps.now() / 1000) + MARKER_TTL_SECONDS },
        }),
      )
      .catch(() => undefined); // Without the marker a retry may post this channel again: better twice than never.
    return { ...base, outcome: "delivered", host: hostOf(target.url), status };
  } catch (error) {
    const permanent = error instanceof DeliveryError && error.permanent;
    return { ...base, outcome: "failed", error: error instanceof Error ? error.message : String(error), permanent };
  }
}
