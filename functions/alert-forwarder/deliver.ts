/**
 * One HTTPS POST to a channel. TLS is always verified (Node's trust store, or `ca` where a test or a
 * private receiver needs its own root); plain http, redirects and non-2xx answers are failures, and
 * so is any request that takes longer than `timeoutMs` from start to the end of the answer.
 */
import * as https from "node:https";

export interface ChannelTarget {
  url: string;
  /** Sent as the Authorization header (generic webhooks); never logged. */
  authorization?: string;
}

export class DeliveryError extends Error {
  constructor(
    message: string,
    /** true when retrying cannot help (bad URL in the secret): still dead-lettered, never dropped */
    readonly permanent: boolean,
  ) {
    super(message);
    this.name = "DeliveryError";
  }
}

/** A secret's value as a target: a bare https URL, or JSON `{ "url": ..., "authorization": ... }`. */
export function parseTarget(secretValue: string): ChannelTarget {
  const raw = secretValue.trim();
  let target: ChannelTarget;
  if (raw.startsWith("{")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new DeliveryError("channel secret is neither an https URL nor valid JSON", true);
    }
    const p = parsed as Record<string, unknown>;
    if (typeof p.url !== "string") throw new DeliveryError('channel secret JSON needs a "url" string', true);
    if (p.authorization !== undefined && typeof p.authorization !== "string") throw new DeliveryError('channel secret "authorization" must be a string', true);
    target = { url: p.url, authorization: p.authorization as string | undefined };
  } else {
    target = { url: raw };
  }
  let url: URL;
  try {
    url = new URL(target.url);
  } catch {
    throw new DeliveryError("channel URL in the secret is not a URL", true);
  }
  if (url.protocol !== "https:") throw new DeliveryError(`channel URL must be https, not ${url.protocol}`, true);
  return target;
}

/** The host of a URL, for log lines (the path of a Slack webhook URL is its credential). */
export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "(invalid URL)";
  }
}

export async function postJson(target: ChannelTarget, body: unknown, options: { timeoutMs: number; ca?: string }): Promise<number> {
  const data = Buffer.from(JSON.stringify(body));
  const host = hostOf(target.url);
  return new Promise<number>((resolve, reject) => {
    let settled = false;
    const finish = (error: Error | undefined, status?: number) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) reject(error);
      else resolve(status as number);
    };
    const req = https.request(
      target.url,
      {
        method: "POST",
        ca: options.ca,
        headers: {
          "content-type": "application/json; charset=utf-8",
          "content-length": data.length,
          "user-agent": "smart-home-fleet-alert-forwarder/1",
          ...(target.authorization ? { authorization: target.authorization } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          if (size < 2048) chunks.push(c);
          size += c.length;
        });
        res.on("end", () => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return finish(undefined, status);
          const answer = Buffer.concat(chunks).toString("utf8").slice(0, 200).replace(/\s+/g, " ");
          finish(new DeliveryError(`${host} answered ${status}${answer ? `: ${answer}` : ""}`, false));
        });
        res.on("error", (e) => finish(new DeliveryError(`${host}: ${e.message}`, false)));
      },
    );
    const timer = setTimeout(() => {
      finish(new DeliveryError(`${host} did not answer within ${options.timeoutMs} ms`, false));
      req.destroy();
    }, options.timeoutMs);
    req.on("error", (e) => finish(new DeliveryError(`${host}: ${e.message}`, false)));
    req.end(data);
  });
}
