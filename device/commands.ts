/**
 * Command handlers: what the device does with `devices/<thing>/commands`.
 *
 * Adding a handler: write a CommonJS module that exports `register(registry)` and list it in the
 * config's `handlerModules` (see device/README.md):
 *
 * ```js
 * // /etc/smart-home-device/handlers/relay.js
 * exports.register = (registry) => {
 *   registry.register("toggle-relay", async (params, ctx) => {
 *     ctx.log.info("toggling", { pin: params.pin });
 *     return { pin: params.pin, on: true };       // becomes `result` in the response
 *   }, { description: "Toggle a GPIO relay" });
 * };
 * ```
 *
 * A handler returns the result (any JSON value) or throws. Throw a {@link CommandError} to choose the
 * error `code` published on `devices/<thing>/errors`; any other exception is reported as `HANDLER_ERROR`.
 */
import * as os from "node:os";
import * as path from "node:path";
import { readJsonSync, writeFileAtomicSync } from "./files";
import { Logger } from "./log";

/** A failure with a machine-readable code for the errors topic. */
export class CommandError extends Error {
  override readonly name = "CommandError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export type StateValue = string | number | boolean;

/** The device's small persistent key/value state (`set-state` / `get-status`). */
export class DeviceState {
  private values: Record<string, StateValue>;

  constructor(private readonly file: string) {
    this.values = readJsonSync<Record<string, StateValue>>(file) ?? {};
  }

  get(): Readonly<Record<string, StateValue>> {
    return { ...this.values };
  }

  /** Apply changes (null deletes a key) and persist atomically. */
  update(changes: Record<string, StateValue | null>): Readonly<Record<string, StateValue>> {
    const next = { ...this.values };
    for (const [key, value] of Object.entries(changes)) {
      if (value === null) delete next[key];
      else next[key] = value;
    }
    writeFileAtomicSync(this.file, JSON.stringify(next, null, 2) + "\n", 0o600);
    this.values = next;
    return this.get();
  }
}

/** What a handler can use. */
export interface CommandContext {
  readonly thingName: string;
  /** Correlation id of the command. */
  readonly id: string;
  readonly log: Logger;
  readonly state: DeviceState;
  /** Aborted when the handler exceeds `commandTimeoutMs` or the device shuts down. */
  readonly signal: AbortSignal;
  /** Live figures for `get-status`. */
  readonly status: () => Record<string, unknown>;
}

export type CommandHandler = (params: Record<string, unknown>, ctx: CommandContext) => unknown | Promise<unknown>;

export interface HandlerInfo {
  readonly description?: string;
}

/** Command name -> handler. */
export class CommandRegistry {
  private readonly handlers = new Map<string, { handler: CommandHandler; info: HandlerInfo }>();

  /** Register a handler; throws if the name is taken or not `[a-z0-9][a-z0-9-]*`. */
  register(name: string, handler: CommandHandler, info: HandlerInfo = {}): this {
    if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(name)) throw new Error(`invalid command name "${name}"`);
    if (this.handlers.has(name)) throw new Error(`a handler for "${name}" is already registered`);
    this.handlers.set(name, { handler, info });
    return this;
  }

  get(name: string): CommandHandler | undefined {
    return this.handlers.get(name)?.handler;
  }

  /** Registered command names with their descriptions. */
  list(): Array<{ name: string; description?: string }> {
    return [...this.handlers].map(([name, { info }]) => ({ name, description: info.description }));
  }
}

/** Register `ping`, `get-status` and `set-state`. */
export function registerBuiltins(registry: CommandRegistry): CommandRegistry {
  registry.register("ping", () => ({ pong: true, at: new Date().toISOString() }), { description: "Liveness check" });
  registry.register("get-status", (_params, ctx) => ({ ...ctx.status(), state: ctx.state.get(), commands: registry.list().map((c) => c.name) }), {
    description: "Firmware, uptime, queue depth, state",
  });
  registry.register(
    "set-state",
    (params, ctx) => {
      const entries = Object.entries(params);
      if (entries.length === 0) throw new CommandError("BAD_PARAMS", "set-state needs at least one key");
      const changes: Record<string, StateValue | null> = {};
      for (const [key, value] of entries) {
        if (!/^[A-Za-z0-9_.-]{1,64}$/.test(key)) throw new CommandError("BAD_PARAMS", `invalid state key "${key}"`);
        if (value !== null && !["string", "number", "boolean"].includes(typeof value)) {
          throw new CommandError("BAD_PARAMS", `state value for "${key}" must be a string, number, boolean or null`);
        }
        changes[key] = value as StateValue | null;
      }
      return { state: ctx.state.update(changes) };
    },
    { description: "Set (or with null, delete) keys of the device state" },
  );
  return registry;
}

/** Load handler modules (`exports.register(registry)` or a default export function). */
export function loadHandlerModules(registry: CommandRegistry, modules: readonly string[], log: Logger): void {
  for (const modulePath of modules) {
    const resolved = path.resolve(modulePath);
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a module the device config names, loaded at run time
    const mod = require(resolved) as { register?: (r: CommandRegistry) => void; default?: unknown };
    const register = mod.register ?? (typeof mod.default === "function" ? (mod.default as (r: CommandRegistry) => void) : undefined);
    if (!register) throw new Error(`handler module ${resolved} exports no register(registry) function`);
    register(registry);
    log.info("handler module loaded", { module: resolved });
  }
}

/** System figures for get-status (cheap, no shell-outs). */
export function systemStatus(): Record<string, unknown> {
  return {
    hostname: os.hostname(),
    systemUptimeSeconds: Math.round(os.uptime()),
    processUptimeSeconds: Math.round(process.uptime()),
    nodeVersion: process.version,
  };
}
