/**
 * The local stand-in for the `api` stack's REST API: an HTTP server on 127.0.0.1 that checks the API
 * key like API Gateway does (`x-api-key`; missing or wrong -> `403 {"message":"Forbidden"}`), turns
 * the request into an `APIGatewayProxyEvent` (REST API, Lambda proxy integration) for the REAL
 * `register-device` handler and writes its `APIGatewayProxyResult` back unchanged (status, headers,
 * body: a 400 from the handler reaches the caller as that 400).
 *
 * | route | served by |
 * |---|---|
 * | `GET`/`POST /devices`, `GET`/`DELETE /devices/{serialNumber}`, `POST /devices/{serialNumber}/reprovision` and `/replace` | the register-device handler |
 * | `POST /commands/{thingName}` `{"command", "params"?}` `?wait=<seconds>` | the twin's command sender (publishes on `devices/<thing>/commands`, waits for the answer) |
 * | `GET /alerts` | the messages the local SNS sink received |
 * | `POST /health-check` | the twin runs the REAL health-check function now (its summary goes to the SNS sink) |
 * | `POST /telemetry-rollup` | the twin runs the REAL telemetry-rollup job now (the completed hours after its watermark) |
 * | the telemetry stack's dashboard routes (`GET /buildings...`, `GET /devices/{thingName}/telemetry[/aggregate]`) | the telemetry-api handler, payload 2.0; building groups from `x-twin-groups` (dashboard-api-event.ts) |
 * | `GET /` | a short description of these routes (no key needed) |
 */
import { randomUUID } from "node:crypto";
import type * as http from "node:http";
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from "aws-lambda";
import { matchDashboardRoute, toDashboardEvent, type DashboardHandler } from "./dashboard-api-event";
import { BodyTooLargeError, readBody } from "./http-body";
import { LocalHttpServer } from "./local-http-server";

/** API Gateway's request body limit is 10 MB; registrations are tiny, so less is plenty here. */
const MAX_REQUEST_BYTES = 1024 * 1024;
const THING_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{3,63}$/;

export type ProxyHandler = (event: APIGatewayProxyEvent, context?: Record<string, unknown>) => Promise<APIGatewayProxyResult>;

/** The outcome of one command sent through `POST /commands/{thingName}`. */
export interface CommandOutcome {
  readonly id: string;
  readonly thingName: string;
  readonly command: string;
  /** `answered`: a response or an error with this id arrived; `pending`: none within the wait. */
  readonly status: "answered" | "pending";
  /** `responses` or `errors`, when answered. */
  readonly topic?: "responses" | "errors";
  readonly answer?: unknown;
  readonly latencyMs?: number;
}

export interface CommandSender {
  send(thingName: string, command: string, params: Record<string, unknown>, waitMs: number): Promise<CommandOutcome>;
}

export interface LocalApiServerOptions {
  readonly apiKey: string;
  /** The REAL register-device handler (or anything with its signature). */
  readonly registerHandler: ProxyHandler;
  readonly commands?: CommandSender;
  readonly alerts?: () => readonly unknown[];
  /** The REAL telemetry-api handler behind the dashboard routes. @default those routes answer 404 */
  readonly dashboardHandler?: DashboardHandler;
  /** Runs the daily health check now (`POST /health-check`). */
  readonly healthCheck?: () => Promise<unknown>;
  /** Runs the hourly rollup job now (`POST /telemetry-rollup`). */
  readonly rollup?: () => Promise<unknown>;
  /** @default a random free port */
  readonly port?: number;
  /** Stage name in the request context. @default "local" */
  readonly stage?: string;
  readonly accountId?: string;
}

/** The parts of an HTTP request the adapter needs. */
export interface PlainRequest {
  readonly method: string;
  /** Path and query, e.g. `/devices/abc?x=1`. */
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  readonly sourceIp?: string;
}

/** API Gateway's API-key check: the `x-api-key` header must equal the key. */
export function hasValidApiKey(headers: http.IncomingHttpHeaders, apiKey: string): boolean {
  const value = headers["x-api-key"];
  return typeof value === "string" && value.length > 0 && value === apiKey;
}

/** The REST API resource a path belongs to, with its path parameters (as API Gateway matches them). */
export function matchResource(path: string): { resource: string; pathParameters: Record<string, string> | null } | undefined {
  if (path === "/devices" || path === "/devices/") return { resource: "/devices", pathParameters: null };
  const m = /^\/devices\/([^/]+)(?:\/(reprovision|replace))?$/.exec(path);
  if (!m) return undefined;
  let serialNumber: string;
  try {
    serialNumber = decodeURIComponent(m[1]!);
  } catch {
    serialNumber = m[1]!;
  }
  return { resource: m[2] ? `/devices/{serialNumber}/${m[2]}` : "/devices/{serialNumber}", pathParameters: { serialNumber } };
}

/** Build the Lambda proxy event API Gateway (REST) would send for this request. */
export function toApiGatewayEvent(
  req: PlainRequest,
  options: { stage?: string; accountId?: string; requestId?: string; now?: number } = {},
): APIGatewayProxyEvent {
  const url = new URL(req.url, "http://localhost");
  const path = url.pathname;
  const matched = matchResource(path);
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    const values = Array.isArray(value) ? value : [value];
    headers[name] = values[values.length - 1]!;
    multiValueHeaders[name] = values;
  }
  const query: Record<string, string> = {};
  const multiQuery: Record<string, string[]> = {};
  for (const [key, value] of url.searchParams) {
    query[key] = value;
    (multiQuery[key] ??= []).push(value);
  }
  const hasQuery = Object.keys(query).length > 0;
  const now = options.now ?? Date.now();
  const stage = options.stage ?? "local";
  const method = req.method.toUpperCase();
  const apiKey = headers["x-api-key"] ?? null;
  return {
    resource: matched?.resource ?? path,
    path,
    httpMethod: method,
    headers,
    multiValueHeaders,
    queryStringParameters: hasQuery ? query : null,
    multiValueQueryStringParameters: hasQuery ? multiQuery : null,
    pathParameters: matched?.pathParameters ?? null,
    stageVariables: null,
    body: req.body.length > 0 ? req.body : null,
    isBase64Encoded: false,
    requestContext: {
      accountId: options.accountId ?? "000000000000",
      apiId: "local",
      authorizer: null,
      protocol: "HTTP/1.1",
      httpMethod: method,
      path: `/${stage}${path}`,
      stage,
      requestId: options.requestId ?? randomUUID(),
      requestTimeEpoch: now,
      resourceId: "local",
      resourcePath: matched?.resource ?? path,
      identity: {
        accessKey: null,
        accountId: null,
        apiKey,
        apiKeyId: apiKey ? "local-api-key" : null,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: req.sourceIp ?? "127.0.0.1",
        user: null,
        userAgent: headers["user-agent"] ?? null,
        userArn: null,
      },
    },
  };
}

/** Write a proxy result to the HTTP response as API Gateway does (status, headers, body). */
export function writeProxyResult(res: http.ServerResponse, result: APIGatewayProxyResult): void {
  const body = result.isBase64Encoded ? Buffer.from(result.body ?? "", "base64") : Buffer.from(result.body ?? "", "utf8");
  for (const [name, value] of Object.entries(result.headers ?? {})) res.setHeader(name, String(value));
  for (const [name, values] of Object.entries(result.multiValueHeaders ?? {})) res.setHeader(name, values.map(String));
  res.setHeader("Content-Length", body.length);
  res.statusCode = result.statusCode;
  res.end(body);
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  writeProxyResult(res, { statusCode: status, headers: { "Content-Type": "application/json", ...headers }, body: JSON.stringify(body, null, 2) + "\n" });
}

export class LocalApiServer {
  static async start(options: LocalApiServerOptions): Promise<LocalApiServer> {
    const api = new LocalApiServer(options);
    await api.server.listen(options.port);
    return api;
  }

  private readonly server: LocalHttpServer;

  private constructor(private readonly options: LocalApiServerOptions) {
    this.server = new LocalHttpServer((req, res) => {
      this.serve(req, res).catch((err: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { message: `local API error: ${err instanceof Error ? err.message : String(err)}` });
        else res.destroy();
      });
    });
  }

  /** `http://127.0.0.1:<port>` */
  get url(): string {
    return this.server.url;
  }

  close(): Promise<void> {
    return this.server.close();
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let body: string;
    try {
      body = (await readBody(req, MAX_REQUEST_BYTES)).toString("utf8");
    } catch (error) {
      if (error instanceof BodyTooLargeError) return sendJson(res, 413, { message: "Request Too Long" });
      throw error;
    }
    const url = new URL(req.url ?? "/", "http://localhost");
    const path = url.pathname;

    if (path === "/" && req.method === "GET") return sendJson(res, 200, this.describe());
    if (!hasValidApiKey(req.headers, this.options.apiKey)) return sendJson(res, 403, { message: "Forbidden" });

    if (matchResource(path)) {
      const event = toApiGatewayEvent(
        { method: req.method ?? "GET", url: req.url ?? "/", headers: req.headers, body, sourceIp: req.socket.remoteAddress },
        { stage: this.options.stage, accountId: this.options.accountId },
      );
      const result = await this.options.registerHandler(event);
      return writeProxyResult(res, result);
    }

    const dashboardRoute = this.options.dashboardHandler ? matchDashboardRoute(req.method ?? "GET", path) : undefined;
    if (dashboardRoute) {
      const event = toDashboardEvent(
        { method: req.method ?? "GET", url: req.url ?? "/", headers: req.headers, sourceIp: req.socket.remoteAddress },
        dashboardRoute,
      );
      const result = await this.options.dashboardHandler!(event);
      return writeProxyResult(res, {
        statusCode: result.statusCode ?? 200,
        headers: result.headers as Record<string, string> | undefined,
        body: String(result.body ?? ""),
      });
    }

    const command = /^\/commands\/([^/]+)$/.exec(path);
    if (command && this.options.commands) {
      if (req.method !== "POST") return sendJson(res, 405, { message: "use POST" }, { Allow: "POST" });
      return this.sendCommand(res, decodeURIComponent(command[1]!), body, url.searchParams.get("wait"));
    }
    if (path === "/health-check" && this.options.healthCheck) {
      if (req.method !== "POST") return sendJson(res, 405, { message: "use POST" }, { Allow: "POST" });
      return sendJson(res, 200, await this.options.healthCheck());
    }
    if (path === "/telemetry-rollup" && this.options.rollup) {
      if (req.method !== "POST") return sendJson(res, 405, { message: "use POST" }, { Allow: "POST" });
      return sendJson(res, 200, await this.options.rollup());
    }
    if (path === "/alerts" && this.options.alerts) {
      if (req.method !== "GET") return sendJson(res, 405, { message: "use GET" }, { Allow: "GET" });
      return sendJson(res, 200, { alerts: this.options.alerts() });
    }
    return sendJson(res, 404, { message: `no route for ${req.method} ${path}` });
  }

  private async sendCommand(res: http.ServerResponse, thingName: string, body: string, wait: string | null): Promise<void> {
    if (!THING_NAME_RE.test(thingName)) return sendJson(res, 400, { message: "thing name must be 4-64 characters [A-Za-z0-9_-]" });
    let parsed: unknown;
    try {
      parsed = body.length > 0 ? JSON.parse(body) : {};
    } catch {
      return sendJson(res, 400, { message: "request body is not valid JSON" });
    }
    const { command, params } = (parsed ?? {}) as { command?: unknown; params?: unknown };
    if (typeof command !== "string" || command.length === 0) return sendJson(res, 400, { message: 'body needs "command" (string)' });
    if (params !== undefined && (typeof params !== "object" || params === null || Array.isArray(params))) {
      return sendJson(res, 400, { message: '"params" must be a JSON object' });
    }
    const waitSeconds = wait === null ? 10 : Number(wait);
    if (!Number.isFinite(waitSeconds) || waitSeconds < 0 || waitSeconds > 60) return sendJson(res, 400, { message: "wait must be 0-60 seconds" });
    const outcome = await this.options.commands!.send(thingName, command, (params as Record<string, unknown>) ?? {}, waitSeconds * 1000);
    sendJson(res, outcome.status === "answered" ? 200 : 202, outcome);
  }

  private describe(): unknown {
    return {
      description: "Local twin API (the api stack's registration API served by the real register-device handler, plus twin helpers)",
      authentication: "header x-api-key",
      routes: [
        "POST /devices {serialNumber, deviceType, metadata?, provisioningTokenSha256?}",
        "GET /devices/{serialNumber}",
        "DELETE /devices/{serialNumber}",
        "POST /commands/{thingName} {command, params?} ?wait=<seconds, default 10>",
        "GET /alerts",
        "POST /health-check (the daily summary, now)",
        ...(this.options.rollup ? ["POST /telemetry-rollup (the hourly rollup job, now)"] : []),
        ...(this.options.dashboardHandler
          ? [
              "GET /buildings, /buildings/{buildingId}/devices, /buildings/{buildingId}/telemetry/aggregate, /devices/{thingName}/telemetry[/aggregate] (header x-twin-groups: building-<id> ...; Accept: text/csv for CSV)",
            ]
          : []),
      ],
    };
  }
}
