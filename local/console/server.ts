/**
 * The twin console's HTTP server (node's http, 127.0.0.1 only):
 *
 * | route | what |
 * |---|---|
 * | `GET /` | the page (`page.html`), carrying this run's command token |
 * | `GET /console.js` | the page's script (`page.ts`, its types stripped by esbuild once at start) |
 * | `GET /events` | Server-Sent Events: `snapshot`, then `pi`, `pi-removed`, `telemetry`, `alert`, `command` |
 * | `GET /api/state` | the same snapshot as JSON |
 * | `POST /api/commands/{thingName}` `{"command", "params"?}` | send a command through the twin's controller, wait for the answer |
 *
 * Another web page open in the same browser must not be able to send commands (CSRF) or read the fleet
 * (DNS rebinding), so:
 * - every request must name this server in `Host` (`127.0.0.1:<port>` or `localhost:<port>`): a rebound
 *   DNS name reaches the socket but not the routes;
 * - `POST` needs the `x-console-token` header with the random token of this run (in the page, which
 *   another origin cannot read; printed at startup for curl) and `Content-Type: application/json`
 *   (a cross-origin form or no-cors fetch can send neither; a CORS preflight gets no allowance);
 *   an `Origin` or `Sec-Fetch-Site` header that is present must say same-origin;
 * - no CORS headers are ever sent, and the page is served with a strict Content-Security-Policy.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import type * as http from "node:http";
import * as path from "node:path";
import { transformSync } from "esbuild";
import type { CommandOutcome } from "../api-server";
import type { EventsHub } from "./events-hub";
import { readBody } from "../http-body";
import { LocalHttpServer } from "../local-http-server";

export const TOKEN_HEADER = "x-console-token";
const MAX_BODY_BYTES = 16 * 1024;
const THING_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_:-]{0,127}$/;
const COMMAND_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;

export interface ConsoleServerOptions {
  readonly hub: EventsHub;
  readonly snapshot: () => unknown;
  /** Whether a thing is a Pi of this twin (commands to anything else: 404). */
  readonly knows: (thingName: string) => boolean;
  /** The twin's command path: publish as the controller, wait up to `waitMs` for the answer. */
  readonly send: (thingName: string, command: string, params: Record<string, unknown>, waitMs: number) => Promise<CommandOutcome>;
  /** @default a random free port */
  readonly port?: number;
  /** @default a random 32-byte token */
  readonly token?: string;
  /** How long a command waits for its answer. @default 10 000 ms */
  readonly commandWaitMs?: number;
}

/** The page and its script, read once; the style's hash goes into the CSP so no inline script can run. */
const ASSETS = (() => {
  const html = readFileSync(path.join(__dirname, "page.html"), "utf8");
  const style = /<style>([\s\S]*?)<\/style>/.exec(html)?.[1] ?? "";
  return {
    html,
    script: transformSync(readFileSync(path.join(__dirname, "page.ts"), "utf8"), { loader: "ts", target: "es2022", sourcefile: "console.js" }).code,
    csp: [
      "default-src 'none'",
      "script-src 'self'",
      `style-src 'sha256-${createHash("sha256").update(style).digest("base64")}'`,
      "connect-src 'self'",
      "img-src 'none'",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join("; "),
  };
})();

export class ConsoleServer {
  static async start(options: ConsoleServerOptions): Promise<ConsoleServer> {
    const server = new ConsoleServer(options);
    await server.server.listen(options.port);
    return server;
  }

  /** Required in `x-console-token` on every POST. */
  readonly token: string;
  private readonly server: LocalHttpServer;

  private constructor(private readonly options: ConsoleServerOptions) {
    this.token = options.token ?? randomBytes(32).toString("base64url");
    this.server = new LocalHttpServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { message: `console error: ${err instanceof Error ? err.message : String(err)}` });
        else res.destroy();
      });
    });
  }

  get port(): number {
    return this.server.port;
  }

  /** `http://127.0.0.1:<port>/` */
  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  async close(): Promise<void> {
    this.options.hub.close();
    await this.server.close();
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (!this.isOwnHost(req.headers.host)) return sendJson(res, 421, { message: "Host must be 127.0.0.1 or localhost with this console's port" });
    const url = new URL(req.url ?? "/", this.url);
    const method = req.method ?? "GET";
    const command = /^\/api\/commands\/([^/]+)$/.exec(url.pathname);
    if (command) {
      if (method !== "POST") return sendJson(res, 405, { message: "use POST" }, { Allow: "POST" });
      return this.sendCommand(req, res, command[1]!);
    }
    if (method !== "GET" && method !== "HEAD") return sendJson(res, 405, { message: "use GET" }, { Allow: "GET" });
    switch (url.pathname) {
      case "/":
        return send(res, 200, "text/html; charset=utf-8", ASSETS.html.replace("{{CONSOLE_TOKEN}}", this.token), { "Content-Security-Policy": ASSETS.csp });
      case "/console.js":
        return send(res, 200, "text/javascript; charset=utf-8", ASSETS.script);
      case "/events":
        return this.options.hub.attach(req, res);
      case "/api/state":
        return sendJson(res, 200, this.options.snapshot());
      default:
        return sendJson(res, 404, { message: `no route for ${method} ${url.pathname}` });
    }
  }

  private async sendCommand(req: http.IncomingMessage, res: http.ServerResponse, rawThing: string): Promise<void> {
    const refusal = this.csrfRefusal(req);
    if (refusal) {
      req.resume();
      return sendJson(res, 403, { message: refusal });
    }
    let body: string;
    try {
      body = (await readBody(req, MAX_BODY_BYTES)).toString("utf8");
    } catch {
      return sendJson(res, 413, { message: `request body over ${MAX_BODY_BYTES} bytes` });
    }
    let thingName: string;
    try {
      thingName = decodeURIComponent(rawThing);
    } catch {
      return sendJson(res, 400, { message: "thing name is not valid URL encoding" });
    }
    if (!THING_NAME_RE.test(thingName)) return sendJson(res, 400, { message: "thing name must be 1-128 characters [A-Za-z0-9_:-]" });
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return sendJson(res, 400, { message: "request body is not valid JSON" });
    }
    const { command, params } = (typeof parsed === "object" && parsed !== null ? parsed : {}) as { command?: unknown; params?: unknown };
    if (typeof command !== "string" || !COMMAND_RE.test(command))
      return sendJson(res, 400, { message: 'body needs "command": 1-64 characters [A-Za-z0-9_.:-]' });
    if (params !== undefined && (typeof params !== "object" || params === null || Array.isArray(params))) {
      return sendJson(res, 400, { message: '"params" must be a JSON object' });
    }
    if (!this.options.knows(thingName)) return sendJson(res, 404, { message: `no Pi ${thingName} in the registry` });
    const outcome = await this.options.send(thingName, command, (params as Record<string, unknown> | undefined) ?? {}, this.options.commandWaitMs ?? 10_000);
    sendJson(res, outcome.status === "answered" ? 200 : 202, outcome);
  }

  /** Why a state-changing request is refused, or undefined when it comes from this console's page (or a tool with the token). */
  private csrfRefusal(req: http.IncomingMessage): string | undefined {
    const origin = req.headers.origin;
    if (origin !== undefined && !this.isOwnOrigin(origin)) return "cross-origin request refused";
    const site = req.headers["sec-fetch-site"];
    if (site !== undefined && site !== "same-origin" && site !== "none") return "cross-site request refused";
    const contentType = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
    if (contentType !== "application/json") return "Content-Type must be application/json";
    const given = Buffer.from(String(req.headers[TOKEN_HEADER] ?? ""));
    const expected = Buffer.from(this.token);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return `missing or wrong ${TOKEN_HEADER} header`;
    return undefined;
  }

  private isOwnHost(host: string | undefined): boolean {
    return host === `127.0.0.1:${this.port}` || host === `localhost:${this.port}`;
  }

  private isOwnOrigin(origin: string): boolean {
    return origin === `http://127.0.0.1:${this.port}` || origin === `http://localhost:${this.port}`;
  }
}

function send(res: http.ServerResponse, status: number, contentType: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    "Content-Type": contentType,
    "Content-Length": Buffer.byteLength(body),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    ...headers,
  });
  res.end(res.req.method === "HEAD" ? undefined : body);
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  send(res, status, "application/json; charset=utf-8", JSON.stringify(body), headers);
}
