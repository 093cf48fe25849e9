/**
 * The REAL Lambda handlers of `functions/`, loaded in-process for the local twin the way Lambda runs
 * them: the environment is set first (they read it once at module load), then each module is required,
 * and invocations get a Lambda-like context (`awsRequestId`, `getRemainingTimeInMillis`).
 *
 * - {@link LocalFunctions.invoke} is a synchronous (RequestResponse) invocation: the provisioning hook,
 *   API Gateway's proxy integration.
 * - {@link LocalFunctions.invokeAsync} is an asynchronous (Event) invocation like the IoT rule actions
 *   and EventBridge use: Lambda retries a failed async invocation twice, with delays; so does this.
 *   {@link LocalFunctions.idle} resolves once nothing is queued or running.
 */
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";

export type FunctionName = "provisioning-hook" | "register-device" | "alert-handler" | "offline-detector" | "health-check";

/** Timeout of each function, as the stacks give them (seconds). */
const TIMEOUT_SECONDS: Record<FunctionName, number> = {
  "provisioning-hook": 5,
  "register-device": 10,
  "alert-handler": 30,
  "offline-detector": 60,
  "health-check": 120,
};

type Handler = (event: any, context?: any) => Promise<any>; // eslint-disable-line @typescript-eslint/no-explicit-any

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

export interface LocalFunctions {
  on(event: "invoked", listener: (invocation: Invocation) => void): this;
  /** An async invocation failed on every attempt (Lambda would send it to the on-failure destination). */
  on(event: "failed", listener: (invocation: Invocation) => void): this;
}

export interface LocalFunctionsOptions {
  /** Environment for the functions; set in process.env before they load, restored by {@link LocalFunctions.restoreEnvironment}. */
  readonly environment: Readonly<Record<string, string>>;
  /** Account and region for `invokedFunctionArn`. */
  readonly accountId: string;
  readonly region: string;
  /** Physical function names (for the ARN), by handler. @default the handler name */
  readonly physicalNames?: Partial<Record<FunctionName, string>>;
  /** Delays before the 2nd and 3rd attempt of an async invocation. @default [1000, 2000] (Lambda: about 1 and 2 minutes) */
  readonly retryDelaysMs?: readonly number[];
}

export class LocalFunctions extends EventEmitter {
  private readonly handlers: Record<FunctionName, Handler>;
  private readonly previousEnv = new Map<string, string | undefined>();
  private readonly pending = new Set<Promise<void>>();
  private readonly retryDelaysMs: readonly number[];

  /** Set the environment, then load every handler module. */
  constructor(private readonly options: LocalFunctionsOptions) {
    super();
    for (const [key, value] of Object.entries(options.environment)) {
      this.previousEnv.set(key, process.env[key]);
      process.env[key] = value;
    }
    this.retryDelaysMs = options.retryDelaysMs ?? [1000, 2000];
    // Required only now: each module reads its configuration at load.
    /* eslint-disable @typescript-eslint/no-require-imports */
    this.handlers = {
      "provisioning-hook": (require("../functions/provisioning-hook") as { handler: Handler }).handler,
      "register-device": (require("../functions/register-device") as { handler: Handler }).handler,
      "alert-handler": (require("../functions/alert-handler") as { handler: Handler }).handler,
      "offline-detector": (require("../functions/offline-detector") as { handler: Handler }).handler,
      "health-check": (require("../functions/health-check") as { handler: Handler }).handler,
    };
    /* eslint-enable @typescript-eslint/no-require-imports */
  }

  /** Synchronous invocation: the handler's answer, or its error thrown. */
  async invoke<T = unknown>(functionName: FunctionName, event: unknown, attempt = 1): Promise<T> {
    const requestId = randomUUID();
    const startedAt = Date.now();
    const deadline = startedAt + TIMEOUT_SECONDS[functionName] * 1000;
    const physical = this.options.physicalNames?.[functionName] ?? functionName;
    const context = {
      awsRequestId: requestId,
      functionName: physical,
      functionVersion: "$LATEST",
      invokedFunctionArn: `arn:aws:lambda:${this.options.region}:${this.options.accountId}:function:${physical}`,
      memoryLimitInMB: "256",
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
