/**
 * Lambda `Invoke` with `InvocationType: "Event"` (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html),
 * the one Lambda call this function makes: SigV4-signed by the SDK's own signer, credentials from the
 * environment (functions/shared/aws.ts), sent with node:https. Why not @aws-sdk/client-lambda: it
 * registers every Lambda schema and error at load (~70 KB of minified code), which alone pushed this
 * zip past the 100 KB budget.
 *
 * Like an SDK client: `AWS_ENDPOINT_URL_LAMBDA` (then `AWS_ENDPOINT_URL`) overrides the endpoint, read
 * at each call; throttling (429), 5xx and network errors are retried with backoff; anything but 202
 * throws an {@link InvokeError} named after Lambda's error type.
 */
import { createHash, createHmac, type Hash, type Hmac } from "node:crypto";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { SignatureV4 } from "@smithy/signature-v4";
import { environmentCredentials } from "../shared/aws";

type SourceData = string | ArrayBuffer | ArrayBufferView;

/** The SHA-256 (and HMAC-SHA-256 with a secret) the signer asks for, from node:crypto. */
class NodeSha256 {
  private readonly hash: Hash | Hmac;
  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash("sha256") : createHmac("sha256", toBuffer(secret));
  }
  update(data: SourceData): void {
    this.hash.update(toBuffer(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.hash.digest()));
  }
}

function toBuffer(data: SourceData): Buffer {
  if (typeof data === "string") return Buffer.from(data, "utf8");
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

export class InvokeError extends Error {
  constructor(
    name: string,
    message: string,
    readonly statusCode?: number,
  ) {
    super(message);
    this.name = name;
  }
}

export interface EventInvokerOptions {
  /** Attempts including the first. @default 3 */
  readonly maxAttempts?: number;
  /** Whole-request timeout. @default 5000 */
  readonly requestTimeoutMs?: number;
  /** Backoff before attempt n+1: base * 2^(n-1), with jitter. @default 200 */
  readonly backoffBaseMs?: number;
}

/** Queues an asynchronous invocation of a function with `payload` (Lambda answers 202). */
export type InvokeEvent = (functionName: string, payload: Uint8Array) => Promise<void>;

export function createEventInvoker(options: EventInvokerOptions = {}): InvokeEvent {
  const region = () => process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? "us-east-1";
  const signer = new SignatureV4({ service: "lambda", region: async () => region(), credentials: environmentCredentials, sha256: NodeSha256 });
  return async (functionName, payload) => {
    const url = new URL(endpointOf(region()));
    const request = {
      method: "POST",
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      path: `${url.pathname.replace(/\/$/, "")}/2015-03-31/functions/${encodeURIComponent(functionName)}/invocations`,
      query: {},
      headers: {
        host: url.host,
        "content-type": "application/octet-stream",
        "content-length": String(payload.byteLength),
        "x-amz-invocation-type": "Event",
      } as Record<string, string>,
      body: payload,
    };
    const attempts = Math.max(1, options.maxAttempts ?? 3);
    for (let attempt = 1; ; attempt++) {
      try {
        const signed = await signer.sign(request);
        const { status, headers, body } = await send(url.protocol, signed, options.requestTimeoutMs ?? 5000);
        if (status === 202) return;
        throw errorOf(status, headers, body);
      } catch (error) {
        if (attempt >= attempts || !retryable(error)) throw error;
        await new Promise((resolve) => setTimeout(resolve, (options.backoffBaseMs ?? 200) * 2 ** (attempt - 1) * (0.5 + Math.random() / 2)));
      }
    }
  };
}

function endpointOf(region: string): string {
  const configured = process.env.AWS_ENDPOINT_URL_LAMBDA ?? process.env.AWS_ENDPOINT_URL;
  if (configured) return configured;
  return `https://lambda.${region}.${region.startsWith("cn-") ? "amazonaws.com.cn" : "amazonaws.com"}`;
}

function retryable(error: unknown): boolean {
  if (error instanceof InvokeError && error.statusCode !== undefined) return error.statusCode === 429 || error.statusCode >= 500;
  return true; // a network error or a timeout: the request may not have arrived
}

/** Lambda names the error in `x-amzn-ErrorType` (`Name:url`) or the body's `__type`/`Type`. */
function errorOf(status: number, headers: IncomingMessage["headers"], body: string): InvokeError {
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(body) as Record<string, unknown>;
  } catch {
    // not JSON: the status names it
  }
  const header = headers["x-amzn-errortype"];
  const type = (typeof header === "string" ? header : undefined) ?? (parsed.__type as string | undefined) ?? (parsed.Type as string | undefined);
  const name = type ? (type.split(":")[0].split("#").pop() ?? type) : `Http${status}`;
  const message = typeof parsed.message === "string" ? parsed.message : typeof parsed.Message === "string" ? parsed.Message : body.slice(0, 200);
  return new InvokeError(name, `Invoke answered ${status}: ${message}`, status);
}

interface SignedRequest {
  method: string;
  hostname: string;
  port?: number;
  path: string;
  headers: Record<string, string>;
  body?: unknown;
}

function send(protocol: string, req: SignedRequest, timeoutMs: number): Promise<{ status: number; headers: IncomingMessage["headers"]; body: string }> {
  return new Promise((resolve, reject) => {
    const doRequest = protocol === "http:" ? httpRequest : httpsRequest;
    const outgoing = doRequest(
      { method: req.method, hostname: req.hostname, port: req.port, path: req.path, headers: req.headers, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    outgoing.on("timeout", () => outgoing.destroy(new InvokeError("TimeoutError", `Invoke took longer than ${timeoutMs} ms`)));
    outgoing.on("error", reject);
    outgoing.end(req.body as Uint8Array);
  });
}
