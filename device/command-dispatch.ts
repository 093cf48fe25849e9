/**
 * Commands on `devices/<thing>/commands`: the payload is checked at the edge, QoS 1 redeliveries are
 * dropped by correlation id, the handler runs with `commandTimeoutMs` and is aborted on shutdown, and the
 * outcome goes durably to `devices/<thing>/responses` or `devices/<thing>/errors`.
 */
import { CommandContext, CommandError, CommandRegistry, DeviceState } from "./commands";
import { waitUntil } from "./backoff";
import { Logger, errorMessage } from "./log";

/** Correlation ids remembered to drop QoS 1 redeliveries of a command. */
const SEEN_COMMAND_IDS = 512;

/** Error codes on `devices/<thing>/errors`. */
export type DeviceErrorCode = "BAD_PAYLOAD" | "UNKNOWN_COMMAND" | "HANDLER_ERROR" | "TIMEOUT" | string;

export interface CommandDispatcherOptions {
  readonly thingName: string;
  readonly registry: CommandRegistry;
  readonly state: DeviceState;
  readonly log: Logger;
  readonly commandTimeoutMs: number;
  readonly topics: { readonly responses: string; readonly errors: string };
  /** Live figures for `get-status`. */
  readonly status: () => Record<string, unknown>;
  /** Queue a message durably (the outbox). */
  readonly publish: (topic: string, body: unknown) => void;
}

export class CommandDispatcher {
  private readonly running = new Set<Promise<void>>();
  private readonly seen: string[] = [];
  private readonly shutdown = new AbortController();

  constructor(private readonly o: CommandDispatcherOptions) {}

  /** Run one command payload in the background; its outcome is published, never thrown. */
  dispatch(text: string): void {
    const run = this.handle(text).catch((err: unknown) => this.o.log.error("command dispatch failed", { error: errorMessage(err) }));
    this.running.add(run);
    void run.finally(() => this.running.delete(run));
  }

  /** Let running handlers finish within `timeoutMs`, then abort the ones still running. */
  async stop(timeoutMs: number): Promise<void> {
    await waitUntil(() => this.running.size === 0, timeoutMs);
    this.shutdown.abort();
  }

  private async handle(text: string): Promise<void> {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      this.publishError(null, null, "BAD_PAYLOAD", "command payload is not valid JSON");
      return;
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      this.publishError(null, null, "BAD_PAYLOAD", "command payload must be a JSON object");
      return;
    }
    const { id, command, params } = body as { id?: unknown; command?: unknown; params?: unknown };
    const cid = typeof id === "string" && id.length > 0 && id.length <= 128 ? id : null;
    const name = typeof command === "string" && command.length > 0 ? command : null;
    if (!cid) return this.publishError(null, name, "BAD_PAYLOAD", 'command needs an "id" (string, 1-128 chars)');
    if (!name) return this.publishError(cid, null, "BAD_PAYLOAD", 'command needs a "command" name');
    if (params !== undefined && (typeof params !== "object" || params === null || Array.isArray(params))) {
      return this.publishError(cid, name, "BAD_PAYLOAD", '"params" must be a JSON object');
    }
    if (this.seen.includes(cid)) {
      this.o.log.info("duplicate command ignored", { id: cid, command: name });
      return;
    }
    this.seen.push(cid);
    if (this.seen.length > SEEN_COMMAND_IDS) this.seen.shift();

    const handler = this.o.registry.get(name);
    if (!handler) return this.publishError(cid, name, "UNKNOWN_COMMAND", `unknown command "${name}"`);
    const log = this.o.log.child({ id: cid, command: name });
    const timeout = new AbortController();
    const onShutdown = (): void => timeout.abort();
    this.shutdown.signal.addEventListener("abort", onShutdown, { once: true });
    const ctx: CommandContext = {
      thingName: this.o.thingName,
      id: cid,
      log,
      state: this.o.state,
      signal: timeout.signal,
      status: this.o.status,
    };
    const timeoutMs = this.o.commandTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        Promise.resolve().then(() => handler((params as Record<string, unknown> | undefined) ?? {}, ctx)),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            timeout.abort();
            reject(new CommandError("TIMEOUT", `handler did not finish within ${timeoutMs} ms`));
          }, timeoutMs);
        }),
      ]);
      this.o.publish(this.o.topics.responses, {
        id: cid,
        command: name,
        status: "ok",
        result: result === undefined ? {} : result,
        thingName: this.o.thingName,
        completedAt: new Date().toISOString(),
      });
      log.info("command handled");
    } catch (err) {
      // CommandError, or (from plain-JS handler modules) any Error named "CommandError" with a string code.
      const named = err instanceof Error && err.name === "CommandError" && typeof (err as { code?: unknown }).code === "string";
      const code = err instanceof CommandError || named ? (err as CommandError).code : "HANDLER_ERROR";
      log.warn("command failed", { code, error: errorMessage(err) });
      this.publishError(cid, name, code, errorMessage(err));
    } finally {
      clearTimeout(timer);
      this.shutdown.signal.removeEventListener("abort", onShutdown);
    }
  }

  private publishError(id: string | null, command: string | null, code: DeviceErrorCode, message: string): void {
    this.o.publish(this.o.topics.errors, { id, command, code, message, thingName: this.o.thingName, at: new Date().toISOString() });
  }
}
