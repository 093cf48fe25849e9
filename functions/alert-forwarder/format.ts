/**
 * One alert, formatted for each channel: the same subject and text that e-mail subscribers get from
 * SNS, as Slack blocks (with a plain-text fallback for notifications) or as a versioned JSON document.
 */
import type { ChannelKind } from "./contract";

/** What the forwarder receives: one SNS notification of the alert topic. */
export interface AlertNotification {
  messageId: string;
  subject: string;
  message: string;
  /** ISO time SNS published it */
  timestamp: string;
  topicArn: string;
}

/** Slack: a header block holds at most 150 characters, a section's text at most 3000. */
const SLACK_HEADER_MAX = 150;
const SLACK_SECTION_MAX = 3000;

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Slack mrkdwn treats &, < and > as control characters; device text must never become a link or mention. */
export function escapeSlack(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** At most this many text sections (30,000 characters); the rest is cut with a note. */
const SLACK_MAX_SECTIONS = 10;

/** Split into section-sized chunks inside code fences, so alignment in the text survives. */
function sections(message: string): Record<string, unknown>[] {
  const body = escapeSlack(message).replace(/```/g, "`\u200b``");
  const room = SLACK_SECTION_MAX - 8;
  const parts: string[] = [];
  for (let i = 0; i < body.length && parts.length < SLACK_MAX_SECTIONS; i += room) parts.push(body.slice(i, i + room));
  const blocks: Record<string, unknown>[] = parts.map((p) => ({ type: "section", text: { type: "mrkdwn", text: `\`\`\`${p}\`\`\`` } }));
  if (body.length > room * SLACK_MAX_SECTIONS) {
    blocks.push({
      type: "context",
      elements: [{ type: "mrkdwn", text: `(cut after ${room * SLACK_MAX_SECTIONS} characters; the e-mail has the whole text)` }],
    });
  }
  return blocks;
}

export function slackPayload(alert: AlertNotification, environment: string): Record<string, unknown> {
  return {
    // Shown in notifications and by clients that cannot render blocks.
    text: escapeSlack(cut(alert.subject, 3000)),
    blocks: [
      { type: "header", text: { type: "plain_text", text: cut(alert.subject, SLACK_HEADER_MAX) } },
      ...sections(alert.message),
      { type: "context", elements: [{ type: "mrkdwn", text: escapeSlack(`${environment} · ${alert.timestamp} · ${alert.messageId}`) }] },
    ],
  };
}

/** Version 1 of the webhook document; receivers may dedupe on `id` (a retry repeats it). */
export function webhookPayload(alert: AlertNotification, environment: string): Record<string, unknown> {
  return {
    version: 1,
    source: "smart-home-fleet",
    environment,
    id: alert.messageId,
    subject: alert.subject,
    message: alert.message,
    publishedAt: alert.timestamp,
  };
}

export function payloadFor(kind: ChannelKind, alert: AlertNotification, environment: string): Record<string, unknown> {
  return kind === "slack" ? slackPayload(alert, environment) : webhookPayload(alert, environment);
}
