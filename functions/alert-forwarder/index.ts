/**
 * Alert forwarder (Lambda), subscribed to the alert topic: every alert also goes to the configured
 * Slack and webhook channels (contract.ts), formatted for each. SNS HTTPS subscriptions would need
 * the receiver to confirm a SubscribeURL, which Slack incoming webhooks cannot do; hence this function.
 *
 * Channel URLs are read from Secrets Manager at run time. Any failed channel fails the invocation:
 * Lambda retries it (asynchronous invocation) and then sends the event to the dead-letter queue,
 * whose alarm pages, so no alert is dropped without a trace. Channels that succeeded are not
 * posted again by the retry (forward.ts).
 */
import type { Context } from "aws-lambda";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import * as z from "../shared/schema";
import { clientConfig, createDocumentClient } from "../shared/aws";
import { ALERT_METRICS, alertMetricFields } from "../shared/alert-metrics";
import { integerInRange, loadConfig, optionalString, requiredString } from "../shared/config";
import { createLogger } from "../shared/log";
import { describeIssues } from "../shared/registry";
import { ALERT_FORWARDER as C, parseChannels } from "./contract";
import { forwardAlert, type ChannelOutcome } from "./forward";

const environment = optionalString(process.env, C.env.environment, C.defaults.environment);

const config = loadConfig(() => ({
  channels: parseChannels(requiredString(process.env, C.env.channels)),
  alertStateTableName: requiredString(process.env, C.env.alertStateTableName),
  timeoutMs: integerInRange(process.env, C.env.deliveryTimeoutMs, C.defaults.deliveryTimeoutMs, C.ranges.deliveryTimeoutMs),
}));

const logger = createLogger({ service: "alert-forwarder", environment });
const ddb = createDocumentClient({ connectionTimeoutMs: 1000, requestTimeoutMs: 3000, maxAttempts: 3 });
// Environment credentials like every other client: the bundle has no default credential chain.
const secrets = new SecretsManagerClient(clientConfig({ connectionTimeoutMs: 1000, requestTimeoutMs: 3000, maxAttempts: 3 }));

async function readSecret(secretId: string): Promise<string> {
  const result = await secrets.send(new GetSecretValueCommand({ SecretId: secretId }));
  if (typeof result.SecretString !== "string") throw Object.assign(new Error("secret has no string value"), { name: "EmptySecret" });
  return result.SecretString;
}

const snsEventSchema = z.object({
  Records: z
    .array(
      z.object({
        Sns: z.object({
          MessageId: z.string().check(z.minLength(1), z.maxLength(128)),
          TopicArn: z.string(),
          Subject: z.optional(z.nullable(z.string())),
          Message: z.string(),
          Timestamp: z.string(),
        }),
      }),
    )
    .check(z.minLength(1)),
});

export type AlertForwarderResult = { status: "forwarded"; channels: ChannelOutcome[] } | { status: "dropped" };

export async function handler(event: unknown, context?: Partial<Context>): Promise<AlertForwarderResult> {
  const log = logger.child({ requestId: context?.awsRequestId });
  if (!config.ok) {
    log.error("configuration invalid", { error: config.error });
    throw new Error(`alert-forwarder misconfigured: ${config.error}`);
  }
  const parsed = snsEventSchema.safeParse(event);
  if (!parsed.success) {
    // Only SNS invokes this function (its resource policy); anything else is not an alert.
    log.warn("event is not an SNS notification; dropped", { issues: describeIssues(parsed.error, 5) });
    return { status: "dropped" };
  }
  const deps = { ddb, ...config.value, environment, readSecret, now: Date.now };
  const outcomes: ChannelOutcome[] = [];
  for (const record of parsed.data.Records) {
    const sns = record.Sns;
    const alert = { messageId: sns.MessageId, topicArn: sns.TopicArn, subject: sns.Subject ?? "Alert", message: sns.Message, timestamp: sns.Timestamp };
    outcomes.push(...(await forwardAlert(deps, alert)));
  }
  const failed = outcomes.filter((o): o is Extract<ChannelOutcome, { outcome: "failed" }> => o.outcome === "failed");
  const delivered = outcomes.filter((o) => o.outcome === "delivered").length;
  const metrics = alertMetricFields(environment, { [ALERT_METRICS.names.delivered]: delivered, [ALERT_METRICS.names.deliveryFailures]: failed.length });
  if (failed.length > 0) {
    log.error("alert delivery failed; the invocation will be retried, then dead-lettered", { channels: outcomes, ...metrics });
    throw new Error(`alert delivery failed for ${failed.map((f) => `${f.channel} (${f.kind}): ${f.error}`).join("; ")}`);
  }
  log.info("alert forwarded", { channels: outcomes, ...metrics });
  return { status: "forwarded", channels: outcomes };
}
