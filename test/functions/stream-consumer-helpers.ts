/**
 * Helpers for the stream consumer tests (not a test file itself): DynamoDB stream records of hot-store
 * items, and a local HTTP server that stands in for Firehose, Lambda Invoke and the API Gateway
 * `@connections` API, recording every request so tests assert exactly what was sent.
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { marshall } from "@aws-sdk/util-dynamodb";

export interface RecordedRequest {
  readonly service: "firehose" | "lambda" | "connections" | "unknown";
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface StandInReply {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: unknown;
  /** Answer this late (a slow service). */
  readonly delayMs?: number;
}

export type Responder = (request: RecordedRequest, nth: number) => StandInReply | undefined;

export interface StandIn {
  readonly endpoint: string;
  readonly requests: RecordedRequest[];
  /** Requests to one service, in arrival order. */
  of(service: RecordedRequest["service"]): RecordedRequest[];
  /** Answers of one service (undefined from the responder: the default success). */
  respond(service: RecordedRequest["service"], responder: Responder): void;
  stop(): Promise<void>;
}

function serviceOf(path: string, headers: IncomingHttpHeaders): RecordedRequest["service"] {
  if (String(headers["x-amz-target"] ?? "").startsWith("Firehose_20150804.")) return "firehose";
  if (path.startsWith("/2015-03-31/functions/")) return "lambda";
  if (/^\/[^/]+\/(@|%40)connections\//.test(path)) return "connections";
  return "unknown";
}

/** Firehose accepts every record; Lambda queues every event (202); a post is delivered (200). */
function success(request: RecordedRequest): StandInReply {
  if (request.service === "firehose") {
    const records = (JSON.parse(request.body.toString("utf8")) as { Records: unknown[] }).Records;
    return { status: 200, body: { FailedPutCount: 0, Encrypted: false, RequestResponses: records.map((_, i) => ({ RecordId: `rec-${i}` })) } };
  }
  if (request.service === "lambda") return { status: 202 };
  if (request.service === "connections") return { status: 200 };
  return { status: 404, body: { message: "no such stand-in" } };
}

export async function startStandIn(): Promise<StandIn> {
  const requests: RecordedRequest[] = [];
  const responders = new Map<RecordedRequest["service"], Responder>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = req.url ?? "/";
      const recorded: RecordedRequest = {
        service: serviceOf(path, req.headers),
        method: req.method ?? "",
        path,
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      requests.push(recorded);
      const nth = requests.filter((r) => r.service === recorded.service).length;
      const reply = responders.get(recorded.service)?.(recorded, nth) ?? success(recorded);
      const body = reply.body === undefined ? "" : JSON.stringify(reply.body);
      const answer = () => {
        if (res.destroyed) return;
        res.writeHead(reply.status, { "content-type": "application/json", ...reply.headers });
        res.end(body);
      };
      if (reply.delayMs) setTimeout(answer, reply.delayMs).unref();
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    of: (service) => requests.filter((r) => r.service === service),
    respond: (service, responder) => void responders.set(service, responder),
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A pass-through proxy in front of a DynamoDB endpoint that counts the operations (`X-Amz-Target`). */
export async function startCountingProxy(target: string): Promise<{ endpoint: string; operations: string[]; stop: () => Promise<void> }> {
  const operations: string[] = [];
  const upstream = new URL(target);
  const server = createServer((req, res) => {
    operations.push(String(req.headers["x-amz-target"] ?? "").replace(/^DynamoDB_\d+\./, ""));
    const forward = httpRequest({ hostname: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 500, up.headers);
      up.pipe(res);
    });
    forward.on("error", () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    operations,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let sequence = 1000;

/** A DynamoDB stream record (NEW_IMAGE) of a hot-store item as the mapping delivers it. */
export function streamRecord(item: Record<string, unknown>, overrides: { eventName?: string; sequenceNumber?: string | null; newImage?: unknown } = {}) {
  const seq = overrides.sequenceNumber === undefined ? String(sequence++).padStart(21, "0") : overrides.sequenceNumber;
  return {
    eventID: `ev-${seq}`,
    eventName: overrides.eventName ?? "INSERT",
    eventVersion: "1.1",
    eventSource: "aws:dynamodb",
    awsRegion: "eu-west-1",
    dynamodb: {
      ApproximateCreationDateTime: Math.floor(Date.now() / 1000),
      Keys: marshall({ thingName: item.thingName, ts: item.ts }),
      NewImage: overrides.newImage === undefined ? marshall(item, { removeUndefinedValues: true }) : overrides.newImage,
      ...(seq === null ? {} : { SequenceNumber: seq }),
      SizeBytes: 200,
      StreamViewType: "NEW_IMAGE",
    },
    eventSourceARN: "arn:aws:dynamodb:eu-west-1:123456789012:table/shf-dev-telemetry/stream/2026-11-01T00:00:00.000",
  };
}

/** A hot-store item as the store rule writes it (storeSql). */
export function hotItem(
  thingName: string,
  ts: number,
  metrics: Record<string, unknown> | undefined,
  deviceTs: string | number | undefined = "2026-11-26T10:00:00Z",
) {
  return { thingName, ts, deviceTs, metrics, expiresAt: Math.floor(ts / 1000) + 90 * 86400 };
}

/** The readings of a Firehose PutRecordBatch request: every record's lines, parsed. */
export function firehoseLines(request: RecordedRequest): { stream: string; records: string[]; lines: unknown[] } {
  const body = JSON.parse(request.body.toString("utf8")) as { DeliveryStreamName: string; Records: { Data: string }[] };
  const records = body.Records.map((r) => Buffer.from(r.Data, "base64").toString("utf8"));
  return { stream: body.DeliveryStreamName, records, lines: records.flatMap((r) => r.split("\n").filter((l) => l.length > 0)).map((l) => JSON.parse(l)) };
}
