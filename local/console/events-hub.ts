/**
 * The console's Server-Sent Events hub: every open page holds one `GET /events` stream; the hub writes
 * each event to all of them. A new stream first gets `snapshot` (the whole picture), then the changes.
 *
 * ```ts
 * const hub = new EventsHub({ snapshot: () => view.snapshot() });
 * hub.attach(req, res);                      // inside the HTTP handler for GET /events
 * hub.broadcast("alert", { subject, message });
 * hub.close();
 * ```
 *
 * Plain `text/event-stream` over node's http (no framework): `event: <name>\ndata: <json>\n\n`, a comment
 * line every `heartbeatMs` so proxies and the browser keep the stream open, and `retry:` so EventSource
 * reconnects quickly after the twin restarts. A stream whose socket buffer is full (a stalled tab) is
 * closed instead of buffering without bound; the page reconnects and gets a fresh snapshot.
 */
import type * as http from "node:http";

export interface EventsHubOptions {
  /** What a new stream starts with. */
  readonly snapshot: () => unknown;
  /** @default 15 000 ms */
  readonly heartbeatMs?: number;
  /** Open streams at most (each page holds one). @default 32 */
  readonly maxClients?: number;
  /** A stream with more than this many bytes not yet sent is closed. @default 1 MiB */
  readonly maxBufferedBytes?: number;
}

/** Event names the page understands. */
export type ConsoleEventName = "snapshot" | "pi" | "pi-removed" | "telemetry" | "alert" | "command";

export class EventsHub {
  private readonly clients = new Set<http.ServerResponse>();
  private readonly heartbeat: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly options: EventsHubOptions) {
    this.heartbeat = setInterval(() => this.writeAll(": keep-alive\n\n"), options.heartbeatMs ?? 15_000);
    this.heartbeat.unref();
  }

  /** Open streams right now. */
  get size(): number {
    return this.clients.size;
  }

  /** Turn a request into an event stream (or refuse it with 503 when full or closing). */
  attach(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.closed || this.clients.size >= (this.options.maxClients ?? 32)) {
      res.writeHead(503, { "Content-Type": "text/plain; charset=utf-8", "Retry-After": "5" });
      res.end("too many console pages open\n");
      return;
    }
    res.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-store",
      Connection: "keep-alive",
      "X-Content-Type-Options": "nosniff",
    });
    res.socket?.setNoDelay(true);
    this.clients.add(res);
    const drop = (): void => {
      this.clients.delete(res);
    };
    req.on("close", drop);
    res.on("close", drop);
    this.write(res, `retry: 1000\n\n${frame("snapshot", this.options.snapshot())}`);
  }

  /** Send one event to every open stream. */
  broadcast(event: Exclude<ConsoleEventName, "snapshot">, data: unknown): void {
    if (this.clients.size === 0) return;
    this.writeAll(frame(event, data));
  }

  /** End every stream and stop the heartbeat. */
  close(): void {
    this.closed = true;
    clearInterval(this.heartbeat);
    for (const res of this.clients) res.end();
    this.clients.clear();
  }

  private writeAll(text: string): void {
    for (const res of this.clients) this.write(res, text);
  }

  private write(res: http.ServerResponse, text: string): void {
    if (res.writableLength > (this.options.maxBufferedBytes ?? 1024 * 1024)) {
      // A page that reads nothing: drop it rather than hold its backlog in memory.
      this.clients.delete(res);
      res.destroy();
      return;
    }
    res.write(text);
  }
}

/**
 * One SSE frame. JSON never contains a raw newline (they are escaped inside strings), so one `data:`
 * line carries the whole event and nothing a device sends can start a new field or event.
 */
export function frame(event: ConsoleEventName, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
