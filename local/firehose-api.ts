/**
 * The Firehose API stand-in the twin's functions reach through `AWS_ENDPOINT_URL_FIREHOSE`: the AWS JSON
 * 1.1 protocol on 127.0.0.1 (`X-Amz-Target: Firehose_20150804.PutRecord` / `.PutRecordBatch`, base64
 * `Data`), records buffered into the twin's {@link LocalFirehose}, so they land in s3rver in Firehose's
 * layout, exactly as the rules' Firehose action's do. Answers and errors have AWS's shapes
 * (https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecordBatch.html): up to 500 records
 * per call, 1,000 KiB per record before base64, 4 MiB per call ("These limits cannot be changed").
 *
 * Not faithful: no signature check, no throughput quotas, every record is accepted (`FailedPutCount` 0),
 * no encryption (`Encrypted: false`).
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { readBody } from "./http-body";
import { LocalHttpServer } from "./local-http-server";

const MAX_RECORDS = 500;
const MAX_RECORD_BYTES = 1_000 * 1024;
const MAX_CALL_BYTES = 4 * 1024 * 1024;
const JSON_TYPE = "application/x-amz-json-1.1";

/** Where accepted records go (LocalFirehose.putRecord); throws for a stream that does not exist. */
export interface FirehoseSink {
  hasStream(name: string): boolean;
  putRecord(name: string, data: Buffer): void;
}

class ApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export class FirehoseApiServer {
  static async start(sink: FirehoseSink, where: { region: string; accountId: string }): Promise<FirehoseApiServer> {
    const api = new FirehoseApiServer(sink, where);
    await api.server.listen();
    return api;
  }

  private readonly server = new LocalHttpServer((req, res) => void this.handle(req, res));
  /** Records accepted, by stream (what the twin console and tests count). */
  readonly accepted = new Map<string, number>();

  private constructor(
    private readonly sink: FirehoseSink,
    private readonly where: { region: string; accountId: string },
  ) {}

  get endpoint(): string {
    return this.server.url;
  }

  close(): Promise<void> {
    return this.server.close();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const body = await readBody(req);
      // The 4 MiB are of record data; its base64 in JSON is a third larger.
      if (body.length > 2 * MAX_CALL_BYTES) throw new ApiError("InvalidArgumentException", `The request is larger than ${MAX_CALL_BYTES} bytes`, 413);
      const target = String(req.headers["x-amz-target"] ?? "");
      const input = JSON.parse(body.toString("utf8") || "{}") as Record<string, unknown>;
      let answer: unknown;
      if (target === "Firehose_20150804.PutRecord") answer = { RecordId: this.put(input.DeliveryStreamName, [input.Record])[0], Encrypted: false };
      else if (target === "Firehose_20150804.PutRecordBatch") {
        const records = Array.isArray(input.Records) ? input.Records : [];
        if (records.length === 0 || records.length > MAX_RECORDS) {
          throw new ApiError(
            "ValidationException",
            `1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length less than or equal to ${MAX_RECORDS} and greater than or equal to 1`,
          );
        }
        const ids = this.put(input.DeliveryStreamName, records);
        answer = { FailedPutCount: 0, Encrypted: false, RequestResponses: ids.map((RecordId) => ({ RecordId })) };
      } else throw new ApiError("UnknownOperationException", `The twin's Firehose does not implement ${target || "this operation"}`);
      send(res, 200, answer);
    } catch (error) {
      const e = error instanceof ApiError ? error : new ApiError("SerializationException", (error as Error).message);
      send(res, e.status, { __type: e.type, message: e.message });
    }
  }

  /** Validates then buffers every record (all or nothing, like a rejected call); returns their ids. */
  private put(streamName: unknown, records: readonly unknown[]): string[] {
    const name = String(streamName ?? "");
    if (!this.sink.hasStream(name)) {
      throw new ApiError("ResourceNotFoundException", `Firehose ${name} under account ${this.where.accountId} not found.`);
    }
    const data = records.map((r, i) => {
      const encoded = (r as { Data?: unknown } | undefined)?.Data;
      if (typeof encoded !== "string")
        throw new ApiError(
          "ValidationException",
          `1 validation error detected: Value null at 'records.${i + 1}.member.data' failed to satisfy constraint: Member must not be null`,
        );
      const bytes = Buffer.from(encoded, "base64");
      if (bytes.length > MAX_RECORD_BYTES) {
        throw new ApiError(
          "ValidationException",
          `1 validation error detected: Value at 'records.${i + 1}.member.data' failed to satisfy constraint: Member must have length less than or equal to ${MAX_RECORD_BYTES}`,
        );
      }
      return bytes;
    });
    if (data.reduce((sum, d) => sum + d.length, 0) > MAX_CALL_BYTES) {
      throw new ApiError("InvalidArgumentException", `The records of one call exceed ${MAX_CALL_BYTES} bytes (4 MiB)`);
    }
    for (const bytes of data) this.sink.putRecord(name, bytes);
    this.accepted.set(name, (this.accepted.get(name) ?? 0) + data.length);
    return data.map(() => randomBytes(56).toString("base64"));
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": JSON_TYPE, "x-amzn-requestid": randomBytes(16).toString("hex") });
  res.end(JSON.stringify(body));
}
