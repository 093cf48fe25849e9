/** The JSON messages of one reserved-topic family (`$aws/things/<thing>/jobs`, `.../shadow`). */
import { Logger } from "./log";

export interface PrefixedMessage {
  /** The topic after `<prefix>/`, e.g. `update/delta`. */
  readonly rest: string;
  readonly body: Record<string, unknown>;
}

/**
 * `undefined` when `topic` is not under `prefix` (someone else's message); `null` when it is but its
 * payload is not JSON (logged once here, and the message is consumed).
 */
export function readPrefixedMessage(prefix: string, topic: string, text: string, log: Logger, family: string): PrefixedMessage | null | undefined {
  if (!topic.startsWith(`${prefix}/`)) return undefined;
  try {
    return { rest: topic.slice(prefix.length + 1), body: JSON.parse(text) as Record<string, unknown> };
  } catch {
    log.warn(`unparsable ${family} message`, { topic });
    return null;
  }
}
