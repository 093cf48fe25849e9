import type { IPublishPacket } from "mqtt-packet";

/**
 * The MQTT rules the twin's front end applies: reason codes named as the MQTT 5 specification names
 * them, AWS IoT's limits, topic validation and filter matching, and which publish properties travel.
 * AWS IoT Core answers refusals with these codes (0x87 Not authorized in CONNACK, PUBACK, SUBACK and
 * DISCONNECT; 0x8E when a newer connection takes a client id).
 */

/** MQTT 5 reason codes (one byte; >= 0x80 is a failure). */
export const Reason = {
  Success: 0x00,
  GrantedQos1: 0x01,
  NoMatchingSubscribers: 0x10,
  UnspecifiedError: 0x80,
  MalformedPacket: 0x81,
  ProtocolError: 0x82,
  UnsupportedProtocolVersion: 0x84,
  NotAuthorized: 0x87,
  ServerUnavailable: 0x88,
  KeepAliveTimeout: 0x8d,
  SessionTakenOver: 0x8e,
  TopicFilterInvalid: 0x8f,
  TopicNameInvalid: 0x90,
  QosNotSupported: 0x9b,
} as const;

/** MQTT 3.1.1 CONNACK return codes. */
export const ConnectReturnCode311 = {
  Accepted: 0x00,
  UnacceptableProtocolVersion: 0x01,
  ServerUnavailable: 0x03,
  NotAuthorized: 0x05,
} as const;

/** MQTT 3.1.1 SUBACK failure. */
export const SUBACK_FAILURE_311 = 0x80;

/** AWS IoT's keep-alive range: 0 means "the maximum", values are clamped into [30, 1200] s. */
export const KEEP_ALIVE_MIN_SECONDS = 30;
export const KEEP_ALIVE_MAX_SECONDS = 1200;

/** AWS IoT's default maximum persistent-session expiry (1 hour). */
export const MAX_SESSION_EXPIRY_SECONDS = 3600;

/** The keep-alive AWS IoT applies to a requested value (seconds). */
export function effectiveKeepAlive(requestedSeconds: number): number {
  if (requestedSeconds === 0) return KEEP_ALIVE_MAX_SECONDS;
  return Math.min(KEEP_ALIVE_MAX_SECONDS, Math.max(KEEP_ALIVE_MIN_SECONDS, requestedSeconds));
}

/** A topic name a client may publish to: non-empty, no wildcards, no NUL. */
export function isValidTopicName(topic: string): boolean {
  return topic.length > 0 && !/[+#]/.test(topic) && !topic.includes("\u0000");
}

/** A topic filter: `+` only as a whole level, `#` only as the whole last level. */
export function isValidTopicFilter(filter: string): boolean {
  if (filter.length === 0 || filter.includes("\u0000")) return false;
  const levels = filter.split("/");
  return levels.every((level, i) => {
    if (level.includes("#")) return level === "#" && i === levels.length - 1;
    if (level.includes("+")) return level === "+";
    return true;
  });
}

/** Topic-filter matching: the one matcher, shared with the policy gate and the cost model. */
export { topicMatchesFilter } from "../../modules/mqtt-topic-filter";

/** The publish properties that travel end to end (not aliases or subscription identifiers). */
export function forwardableProperties(p: IPublishPacket["properties"]): IPublishPacket["properties"] {
  if (!p) return undefined;
  const { payloadFormatIndicator, messageExpiryInterval, contentType, responseTopic, correlationData, userProperties } = p;
  const out: NonNullable<IPublishPacket["properties"]> = {};
  if (payloadFormatIndicator !== undefined) out.payloadFormatIndicator = payloadFormatIndicator;
  if (messageExpiryInterval !== undefined) out.messageExpiryInterval = messageExpiryInterval;
  if (contentType !== undefined) out.contentType = contentType;
  if (responseTopic !== undefined) out.responseTopic = responseTopic;
  if (correlationData !== undefined) out.correlationData = correlationData;
  if (userProperties !== undefined) out.userProperties = userProperties;
  return out;
}
