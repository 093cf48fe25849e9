/**
 * The REAL Lambda handlers of `functions/`, loaded in-process for the local twin the way Lambda runs
 * them: each module is required with its own environment set (they read it once at module load), and
 * invocations get a Lambda-like context (`awsRequestId`, `getRemainingTimeInMillis`) with the function's
 * timeout and memory. Timeout, memory and environment come from each function's contract
 * (`functions/<name>/contract.ts`), as the stacks deploy them (see twin-functions.ts).
 *
 * - {@link LocalFunctions.invoke} is a synchronous (RequestResponse) invocation: the provisioning hook,
 *   API Gateway's proxy integration.
 * - {@link LocalFunctions.invokeAsync} is an asynchronous (Event) invocation like the IoT rule actions
 *   and EventBridge use: Lambda retries a failed async invocation twice, with delays; so does this.
 *   {@link LocalFunctions.idle} resolves once nothing is queued or running.
 */
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";

export type FunctionName = "provisioning-hook" | "register-device" | "alert-handler" | "offline-detector" | "health-check" | "revoke-certificates";

/** A Lambda handler as the runner calls it: the event and context are the handler's to check. */
type Handler = (event: unknown, context?: unknown) => Promise<unknown>;

/* eslint-disable @typescript-eslint/no-require-imports -- loaded only when asked, after the function's environment is set: each handler module reads its configuration at load */
const LOADERS: Record<FunctionName, () => Handler> = {
  "provisioning-hook": () => (require("../functions/provisioning-hook") as { handler: Handler }).handler,
  "register-device": () => (require("../functions/register-device") as { handler: Handler }).handler,
  "alert-handler": () => (require("../functions/alert-handler") as { handler: Handler }).handler,
  "offline-detector": () => (require("../functions/offline-detector") as { handler: Handler }).handler,
  "health-check": () => (require("../functions/health-check") as { handler: Handler }).handler,
  "revoke-certificates": () => (require("../functions/revoke-certificates") as { handler: Handler }).handler,
};
/* eslint-enable @typescript-eslint/no-require-imports -- end of the lazy loaders */

/** How one function runs: what its contract says, as the stack deploys it. */
export interface LocalFunctionSettings {
  /** Physical function name (for the ARN and log group in the context). */
  readonly functionName: string;
  readonly timeoutSeconds: number;
  readonly memoryMiB: number;
  /** The function's own Lambda environment; set only while its module loads. */
  readonly environment: Readonly<Record<string, string>>;
}

/** What happened in one invocation (emitted as `invoked`). */
export interface Invocation {
  readonly functionName: FunctionName;
  readonly requestId: string;
  readonly event: unknown;
  readonly attempt: number;
  readonly result?: unknown;
  readonly error?: string;
  readonly durationMs: number;
}

/** The events of {@link LocalFunctions} and their listener arguments. */
export interface LocalFunctionsEvents {
  invoked: [invocation: Invocation];
  /** An async invocation failed on every attempt (Lambda would send it to the on-failure destination). */
  failed: [invocation: Invocation];
}

export interface LocalFunctionsOptions {
  /**
   * What Lambda's runtime gives every function and the twin points at its servers (region, credentials,
   * `AWS_ENDPOINT_URL_*`, `LOG_LEVEL`): set in process.env for the twin's lifetime (the AWS SDK reads
   * some of it per request), restored by {@link LocalFunctions.restoreEnvironment}.
   */
  readonly environment: Readonly<Record<string, string>>;
  /** Each function's settings, by handler. */
  readonly functions: Readonly<Record<FunctionName, LocalFunctionSettings>>;
  /** Account and region for `invokedFunctionArn`. */
  readonly accountId: string;
  readonly region: string;
  /** Delays before the 2nd and 3rd attempt of an async invocation. @default [1000, 2000] (Lambda: about 1 and 2 minutes) */
  readonly retryDelaysMs?: readonly number[];
}

export class LocalFunctions extends EventEmitter<LocalFunctionsEvents> {
  private readonly handlers: Record<FunctionName, Handler>;
  private readonly previousEnv = new Map<string, string | undefined>();
  private readonly pending = new Set<Promise<void>>();
  private readonly retryDelaysMs: readonly number[];

  /** Set the shared environment, then load each handler module with its own environment. */
  constructor(private readonly options: LocalFunctionsOptions) {
    super();
    for (const [key, value] of Object.entries(options.environment)) {
      this.previousEnv.set(key, process.env[key]);
      process.env[key] = value;
    }
    this.retryDelaysMs = options.retryDelaysMs ?? [1000, 2000];
    const handlers: Partial<Record<FunctionName, Handler>> = {};
    for (const name of Object.keys(LOADERS) as FunctionName[]) {
      handlers[name] = withEnvironment(options.functions[name].environment, LOADERS[name]);
    }
    this.handlers = handlers as Record<FunctionName, Handler>;
  }

  /** How `functionName` runs here (timeout, memory, environment). */
  settings(functionName: FunctionName): LocalFunctionSettings {
    return this.options.functions[functionName];
  }

  /** Synchronous invocation: the handler's answer, or its error thrown. */
  async invoke<T = unknown>(functionName: FunctionName, event: unknown, attempt = 1): Promise<T> {
    const requestId = randomUUID();
    const startedAt = Date.now();
    const settings = this.options.functions[functionName];
    const deadline = startedAt + settings.timeoutSeconds * 1000;
    const physical = settings.functionName;
    const context = {
      awsRequestId: requestId,
      functionName: physical,
      functionVersion: "$LATEST",
      invokedFunctionArn: `arn:aws:lambda:${this.options.region}:${this.options.accountId}:function:${physical}`,
      memoryLimitInMB: String(settings.memoryMiB),
      logGroupName: `/aws/lambda/${physical}`,
      logStreamName: "local-twin",
      callbackWaitsForEmptyEventLoop: false,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    };
    try {
      const result = (await this.handlers[functionName](event, context)) as T;
      this.emit("invoked", { functionName, requestId, event, attempt, result, durationMs: Date.now() - startedAt } satisfies Invocation);
      return result;
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      this.emit("invoked", { functionName, requestId, event, attempt, error, durationMs: Date.now() - startedAt } satisfies Invocation);
      throw err;
    }
  }

  /** Asynchronous invocation with Lambda's two retries; never throws. */
  invokeAsync(functionName: FunctionName, event: unknown): void {
    const run = (async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          await this.invoke(functionName, event, attempt);
          return;
        } catch (err) {
          const delay = this.retryDelaysMs[attempt - 1];
          if (delay === undefined) {
            this.emit("failed", {
              functionName,
              requestId: "",
              event,
              attempt,
              error: err instanceof Error ? err.message : String(err),
              durationMs: 0,
            } satisfies Invocation);
            return;
          }
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    })();
    this.pending.add(run);
    void run.finally(() => this.pending.delete(run));
  }

  /** Resolve once no async invocation is queued or running. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** Put process.env back as it was before the functions loaded. */
  restoreEnvironment(): void {
    for (const [key, value] of this.previousEnv) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    this.previousEnv.clear();
  }
}

/** Runs `load` with `environment` set in process.env, then puts the previous values back. */
function withEnvironment<T>(environment: Readonly<Record<string, string>>, load: () => T): T {
  const previous = new Map(Object.keys(environment).map((key) => [key, process.env[key]]));
  Object.assign(process.env, environment);
  try {
    return load();
  } finally {
    for (const [key, value] of previous) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}
