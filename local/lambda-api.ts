/**
 * The Lambda Invoke stand-in the twin's functions reach through `AWS_ENDPOINT_URL_LAMBDA`
 * (`POST /2015-03-31/functions/{name}/invocations`,
 * https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html), over the twin's function runner:
 *
 * - `X-Amz-Invocation-Type: Event` -> 202, the twin's async invoke (its retries and on-failure queue);
 * - `RequestResponse` (the default) -> 200 with the handler's answer as the payload, or, when the handler
 *   throws, 200 with `X-Amz-Function-Error: Unhandled` and `{errorType, errorMessage}`;
 * - `DryRun` -> 204;
 * - a function the twin does not run -> 404 `ResourceNotFoundException`.
 * The name may be a function name, a partial ARN (`123456789012:function:name`) or a full ARN, with no
 * qualifier or `$LATEST`.
 *
 * Not faithful: no signature or IAM check, no payload size limits, no versions or aliases.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { FunctionName, LocalFunctions } from "./functions";
import { readBody } from "./http-body";
import { LocalHttpServer } from "./local-http-server";

export interface LambdaApiOptions {
  /** Read per request: the API starts before the functions, which get its endpoint. */
  readonly functions: () => LocalFunctions;
  /** Physical function name -> the handler the twin runs. */
  readonly hosted: Readonly<Record<string, FunctionName>>;
  readonly region: string;
  readonly accountId: string;
  /** Told of each invocation before it runs (the twin counts the consumer's threshold alerts). */
  readonly onInvoke?: (handler: FunctionName, event: unknown) => void;
}

export class LambdaApiServer {
  static async start(options: LambdaApiOptions): Promise<LambdaApiServer> {
    const api = new LambdaApiServer(options);
    await api.server.listen();
    return api;
  }

  private readonly server = new LocalHttpServer((req, res) => void this.handle(req, res));

  private constructor(private readonly options: LambdaApiOptions) {}

  get endpoint(): string {
    return this.server.url;
  }

  close(): Promise<void> {
    return this.server.close();
  }

  /** The handler behind a function name or ARN, if the twin runs it. */
  resolve(nameOrArn: string): FunctionName | undefined {
    const m = /^(?:arn:aws:lambda:[^:]+:)?(?:\d{12}:function:)?([A-Za-z0-9_-]+)(?::\$LATEST)?$/.exec(nameOrArn);
    const name = m?.[1];
    return name && Object.prototype.hasOwnProperty.call(this.options.hosted, name) ? this.options.hosted[name] : undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const route = /^\/2015-03-31\/functions\/([^/]+)\/invocations(?:\?.*)?$/.exec(req.url ?? "");
    if (req.method !== "POST" || !route)
      return send(res, 404, { Type: "User", message: `The twin's Lambda does not serve ${req.method} ${req.url}` }, "UnknownOperationException");
    const name = decodeURIComponent(route[1]!);
    const handler = this.resolve(name);
    const body = await readBody(req);
    if (!handler) {
      const arn = name.startsWith("arn:") ? name : `arn:aws:lambda:${this.options.region}:${this.options.accountId}:function:${name}`;
      return send(res, 404, { Type: "User", Message: `Function not found: ${arn}` }, "ResourceNotFoundException");
    }
    let event: unknown;
    try {
      event = body.length === 0 ? {} : JSON.parse(body.toString("utf8"));
    } catch {
      return send(res, 400, { Type: "User", message: "Could not parse request body into json" }, "InvalidRequestContentException");
    }
    const type = String(req.headers["x-amz-invocation-type"] ?? "RequestResponse");
    if (type === "DryRun") return send(res, 204, undefined);
    this.options.onInvoke?.(handler, event);
    if (type === "Event") {
      this.options.functions().invokeAsync(handler, event);
      return send(res, 202, undefined);
    }
    try {
      const result = await this.options.functions().invoke(handler, event);
      send(res, 200, result ?? null, undefined, { "x-amz-executed-version": "$LATEST" });
    } catch (error) {
      const e = error instanceof Error ? error : new Error(String(error));
      send(res, 200, { errorType: e.name, errorMessage: e.message }, undefined, { "x-amz-function-error": "Unhandled", "x-amz-executed-version": "$LATEST" });
    }
  }
}

function send(res: ServerResponse, status: number, body: unknown, errorType?: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...(errorType ? { "x-amzn-errortype": errorType } : {}), ...headers });
  res.end(body === undefined ? "" : JSON.stringify(body));
}
