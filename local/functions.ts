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
import { AsyncFailureQueues, onFailureRecord } from "./async-failures";

export type FunctionName =
  | "provisioning-hook"
  | "register-device"
  | "alert-handler"
  | "offline-detector"
  | "health-check"
  | "revoke-certificates"
  | "telemetry-api"
  | "telemetry-rollup"
  | "telemetry-broadcast";

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
  "telemetry-api": () => (require("../functions/telemetry-api") as { handler: Handler }).handler,
  "telemetry-rollup": () => (require("../functions/telemetry-rollup") as { handler: Handler }).handler,
  "telemetry-broadcast": () => (require("../functions/telemetry-broadcast") as { handler: Handler }).handler,
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
  /**
   * Its synthesized `aws_lambda_function_event_invoke_config`: retries of a failed async invocation
   * and the queue that then receives Lambda's on-failure record.
   * @default Lambda's defaults: 2 retries, no destination (the event is dropped)
   */
  readonly asyncInvoke?: { readonly maximumRetryAttempts: number; readonly onFailureQueue?: string };
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
  /** An async invocation failed on every attempt (its record then goes to the on-failure destination, {@link LocalFunctions.asyncFailures}). */
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
  /** The on-failure destinations (SQS stand-in) async invocations end in after their last retry. */
  readonly asyncFailures = new AsyncFailureQueues();

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
  async invoke<T = unknown>(functionName: FunctionName, event: unknown, attempt = 1, requestId: string = randomUUID()): Promise<T> {
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

  /**
   * Asynchronous invocation with the function's retries (Lambda's default: two); never throws. After
   * the last failed attempt the on-failure record goes to the function's destination queue, if any.
   */
  invokeAsync(functionName: FunctionName, event: unknown): void {
    const settings = this.options.functions[functionName];
    const retries = settings.asyncInvoke?.maximumRetryAttempts ?? 2;
    const requestId = randomUUID();
    const run = (async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          // Every attempt of one async invocation carries the same request id, as on Lambda.
          await this.invoke(functionName, event, attempt, requestId);
          return;
        } catch (err) {
          if (attempt > retries) {
            const failed: Invocation = { functionName, requestId, event, attempt, error: err instanceof Error ? err.message : String(err), durationMs: 0 };
            this.emit("failed", failed);
            const queue = settings.asyncInvoke?.onFailureQueue;
            if (queue) {
              this.asyncFailures.send(
                queue,
                onFailureRecord({
                  requestId,
                  functionArn: `arn:aws:lambda:${this.options.region}:${this.options.accountId}:function:${settings.functionName}`,
                  event,
                  attempts: attempt,
                  errorMessage: failed.error!,
                  errorType: err instanceof Error ? err.name : "Error",
                  at: new Date(),
                }),
              );
            }
            return;
          }
          // Lambda waits about 1 then 2 minutes; the twin's delays are shorter (retryDelaysMs).
          const delays = this.retryDelaysMs;
          await new Promise((r) => setTimeout(r, delays[Math.min(attempt - 1, delays.length - 1)] ?? 0));
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
