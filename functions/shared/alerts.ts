/** Formatting and publishing of human-readable alerts to the SNS alert topic. */
import { PublishCommand, type SNSClient } from "@aws-sdk/client-sns";

export const SNS_SUBJECT_MAX = 100;

/**
 * SNS e-mail subjects must be ASCII printable, one line, at most 100 characters, and start with a
 * letter, number or punctuation: anything else is replaced, then the subject is cut with "...".
 */
export function toSnsSubject(text: string): string {
  const cleaned = text
    .replace(/\s+/g, " ")
    .replace(/[^\x20-\x7E]/g, "?")
    .trim();
  const subject = cleaned.length > 0 ? cleaned : "Alert";
  return subject.length <= SNS_SUBJECT_MAX ? subject : `${subject.slice(0, SNS_SUBJECT_MAX - 3)}...`;
}

export interface Alert {
  subject: string;
  message: string;
}

export async function publishAlert(sns: SNSClient, topicArn: string, alert: Alert): Promise<string | undefined> {
  const result = await sns.send(new PublishCommand({ TopicArn: topicArn, Subject: toSnsSubject(alert.subject), Message: alert.message }));
  return result.MessageId;
}

/** "2h 5m", "3d 4h", "45s": how long ago for people reading an alert. */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  if (d > 0) return h > 0 ? `${d}d ${h}h` : `${d}d`;
  if (h > 0) return m > 0 ? `${h}h ${m}m` : `${h}h`;
  if (m > 0) return `${m}m`;
  return `${seconds}s`;
}

/** ISO string of an epoch-ms value, or "unknown". */
export function isoOrUnknown(epochMs: number | undefined): string {
  return typeof epochMs === "number" && Number.isFinite(epochMs) ? new Date(epochMs).toISOString() : "unknown";
}
