/**
 * A local stand-in for Amazon SNS that the functions' real SNS client talks to unchanged: a tiny HTTP
 * server speaking the SNS query API (`POST /`, form-encoded `Action=Publish&TopicArn=...&Subject=...&Message=...`,
 * XML answers in the `http://sns.amazonaws.com/doc/2010-03-31/` namespace). Point the SDK at it with
 * `AWS_ENDPOINT_URL_SNS=<sink.endpoint>`.
 *
 * Nothing is delivered anywhere: every published message is recorded ({@link SnsSink.messages}) and
 * handed to `onPublish` (the twin prints it readably), like an e-mail subscription you can read.
 *
 * ```ts
 * const sink = await SnsSink.start({ topicArns: ["arn:aws:sns:eu-west-1:111111111111:shf-dev-alerts"] });
 * sink.on("publish", (m) => console.log(m.subject));
 * process.env.AWS_ENDPOINT_URL_SNS = sink.endpoint;
 * await sink.close();
 * ```
 *
 * Only `Publish` is implemented; other actions answer `400 InvalidAction`. A topic not in `topicArns`
 * answers `404 NotFound` ("Topic does not exist"), as SNS does, so a wrong alert topic ARN fails locally too.
 */
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import type * as http from "node:http";
import { readBody } from "./http-body";
import { LocalHttpServer } from "./local-http-server";

export const SNS_XML_NAMESPACE = "http://sns.amazonaws.com/doc/2010-03-31/";
/** SNS's limit on a message (bytes of UTF-8). */
const MAX_MESSAGE_BYTES = 256 * 1024;
const MAX_SUBJECT_CHARS = 100;

/** One message published to the sink. */
export interface SnsMessage {
  readonly messageId: string;
  readonly topicArn: string;
  readonly subject?: string;
  readonly message: string;
  /** Epoch ms when it arrived. */
  readonly receivedAt: number;
}

export interface SnsSinkOptions {
  /** Topics that exist. @default any topic ARN is accepted */
  readonly topicArns?: readonly string[];
  /** @default a random free port on 127.0.0.1 */
  readonly port?: number;
}

/** The events of {@link SnsSink} and their listener arguments. */
export interface SnsSinkEvents {
  publish: [message: SnsMessage];
}

/** An error answer of the query protocol. */
interface SnsError {
  readonly status: number;
  readonly type: "Sender" | "Receiver";
  readonly code: string;
  readonly message: string;
}

export class SnsSink extends EventEmitter<SnsSinkEvents> {
  static async start(options: SnsSinkOptions = {}): Promise<SnsSink> {
    const sink = new SnsSink(options);
    await sink.server.listen(options.port);
    return sink;
  }

  /** Every message published so far, oldest first. */
  readonly messages: SnsMessage[] = [];
  private readonly server = new LocalHttpServer((req, res) => void this.serve(req, res));
  private readonly topics?: ReadonlySet<string>;

  private constructor(options: SnsSinkOptions) {
    super();
    this.topics = options.topicArns ? new Set(options.topicArns) : undefined;
  }

  /** `http://127.0.0.1:<port>`, the value for `AWS_ENDPOINT_URL_SNS`. */
  get endpoint(): string {
    return this.server.url;
  }

  close(): Promise<void> {
    return this.server.close();
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const requestId = randomUUID();
    let body: string;
    try {
      body = (await readBody(req, MAX_MESSAGE_BYTES * 2)).toString("utf8");
    } catch {
      return sendXml(res, 413, errorXml({ status: 413, type: "Sender", code: "RequestEntityTooLarge", message: "Request is too large" }, requestId));
    }
    if (req.method !== "POST") {
      return sendXml(
        res,
        405,
        errorXml({ status: 405, type: "Sender", code: "InvalidAction", message: "Use POST with a form-encoded query API request" }, requestId),
      );
    }
    const params = new URLSearchParams(body);
    const result = this.handle(params);
    if ("error" in result) return sendXml(res, result.error.status, errorXml(result.error, requestId));
    sendXml(res, 200, publishResponseXml(result.message.messageId, requestId));
    this.emit("publish", result.message);
  }

  private handle(params: URLSearchParams): { message: SnsMessage } | { error: SnsError } {
    const action = params.get("Action");
    if (action !== "Publish") {
      return {
        error: {
          status: 400,
          type: "Sender",
          code: "InvalidAction",
          message: `The action ${action ?? "(none)"} is not valid for this local SNS stand-in (only Publish)`,
        },
      };
    }
    const topicArn = params.get("TopicArn") ?? params.get("TargetArn");
    if (!topicArn) return { error: invalidParameter("TopicArn or TargetArn Reason: no value for required parameter") };
    if (this.topics && !this.topics.has(topicArn)) {
      return { error: { status: 404, type: "Sender", code: "NotFound", message: "Topic does not exist" } };
    }
    const message = params.get("Message");
    if (message === null || message.length === 0) return { error: invalidParameter("Message Reason: Empty message") };
    if (Buffer.byteLength(message, "utf8") > MAX_MESSAGE_BYTES) return { error: invalidParameter("Message too long") };
    const subject = params.get("Subject") ?? undefined;
    if (subject !== undefined && (subject.length === 0 || subject.length > MAX_SUBJECT_CHARS || !/^[\x20-\x7E]+$/.test(subject))) {
      return { error: invalidParameter("Subject Reason: must be 1-100 printable ASCII characters on one line") };
    }
    const recorded: SnsMessage = { messageId: randomUUID(), topicArn, subject, message, receivedAt: Date.now() };
    this.messages.push(recorded);
    return { message: recorded };
  }
}

function invalidParameter(detail: string): SnsError {
  return { status: 400, type: "Sender", code: "InvalidParameter", message: `Invalid parameter: ${detail}` };
}

function sendXml(res: http.ServerResponse, status: number, xml: string): void {
  res.writeHead(status, { "Content-Type": "text/xml", "Content-Length": Buffer.byteLength(xml) });
  res.end(xml);
}

export function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&apos;", '"': "&quot;" })[c]!);
}

/** The query protocol's answer to Publish. */
export function publishResponseXml(messageId: string, requestId: string): string {
  return [
    `<PublishResponse xmlns="${SNS_XML_NAMESPACE}">`,
    `  <PublishResult>`,
    `    <MessageId>${escapeXml(messageId)}</MessageId>`,
    `  </PublishResult>`,
    `  <ResponseMetadata>`,
    `    <RequestId>${escapeXml(requestId)}</RequestId>`,
    `  </ResponseMetadata>`,
    `</PublishResponse>`,
    "",
  ].join("\n");
}

function errorXml(error: SnsError, requestId: string): string {
  return [
    `<ErrorResponse xmlns="${SNS_XML_NAMESPACE}">`,
    `  <Error>`,
    `    <Type>${error.type}</Type>`,
    `    <Code>${escapeXml(error.code)}</Code>`,
    `    <Message>${escapeXml(error.message)}</Message>`,
    `  </Error>`,
    `  <RequestId>${escapeXml(requestId)}</RequestId>`,
    `</ErrorResponse>`,
    "",
  ].join("\n");
}

/** A published message as a few readable console lines (subject, then the indented body). */
export function formatSnsMessage(message: SnsMessage): string {
  const body = message.message
    .split("\n")
    .map((line) => `      ${line}`)
    .join("\n");
  return `${message.subject ?? "(no subject)"}\n${body}`;
}
