/**
 * A minimal AWS IoT Jobs stand-in for OTA tests and the twin: the device side of the Jobs MQTT API with
 * AWS's topics and payloads, served over an MQTT client that may use every jobs topic (the twin: the
 * twin-service identity through the IoT front end).
 *
 * - `$aws/things/<thing>/jobs/start-next` `{clientToken?, statusDetails?}` -> `/accepted`
 *   `{execution?: JobExecution, timestamp, clientToken}` (the execution moves QUEUED -> IN_PROGRESS)
 * - `$aws/things/<thing>/jobs/<jobId>/update` `{status, statusDetails?, expectedVersion?, clientToken?}` ->
 *   `/accepted` `{executionState: {status, statusDetails, versionNumber}, timestamp, clientToken}` or
 *   `/rejected` `{code, message, timestamp, clientToken, executionState?}`
 * - `$aws/things/<thing>/jobs/notify-next` `{timestamp, execution?}` whenever the thing's next pending
 *   execution changes (a job is created for it, or the current one reaches a terminal status).
 *
 * - Control-plane side (used by local/iot-core/control-plane-jobs.ts): `executionsOf`, `cancelExecution`
 *   (CancelJob, `force` for IN_PROGRESS), `retry` (Jobs' automatic retry: QUEUED again with a new execution
 *   number), and `resolveDocument`, which turns the stored document into the one a device receives.
 *
 * Timestamps are epoch seconds, as AWS sends them.
 *
 * ```ts
 * const jobs = await JobsService.start({ client: await iot.connect(TWIN_SERVICE_IDENTITY, "local-twin-service-jobs") });
 * jobs.createJob("thing-1", "fw-1-2-3", { operation: "firmware-update", version: "1.2.3", url, sha256 });
 * const done = await jobs.waitForTerminal("thing-1", "fw-1-2-3");
 * ```
 */
import { EventEmitter } from "node:events";
import { MqttTestClient } from "./broker";

export type JobExecutionStatus = "QUEUED" | "IN_PROGRESS" | "SUCCEEDED" | "FAILED" | "REJECTED" | "CANCELED" | "TIMED_OUT" | "REMOVED";

const TERMINAL: ReadonlySet<JobExecutionStatus> = new Set(["SUCCEEDED", "FAILED", "REJECTED", "CANCELED", "TIMED_OUT", "REMOVED"]);
const DEVICE_SETTABLE: ReadonlySet<string> = new Set(["IN_PROGRESS", "SUCCEEDED", "FAILED", "REJECTED"]);

export interface JobExecution {
  readonly jobId: string;
  readonly thingName: string;
  status: JobExecutionStatus;
  statusDetails: Record<string, string>;
  readonly jobDocument: unknown;
  readonly queuedAt: number;
  startedAt?: number;
  lastUpdatedAt: number;
  versionNumber: number;
  executionNumber: number;
  /** How many automatic retries (Jobs' retry config) created this execution's later attempts. */
  retryAttempt: number;
  /** Every status the device (or the service) set, in order, with its details. */
  readonly history: Array<{ status: JobExecutionStatus; statusDetails: Record<string, string>; at: number }>;
}

export interface JobsServiceOptions {
  /** Connected; the service owns it from now on (closed by {@link JobsService.close}). */
  readonly client: MqttTestClient;
  /**
   * Turns a stored job document into the one a device receives (e.g. presigned-URL placeholders replaced),
   * each time it is handed out. @default the stored document
   */
  readonly resolveDocument?: (execution: JobExecution) => Promise<unknown>;
}

/** The events of {@link JobsService} and their listener arguments. */
export interface JobsServiceEvents {
  "execution-updated": [execution: JobExecution];
}

const seconds = (ms = Date.now()): number => Math.floor(ms / 1000);

export class JobsService extends EventEmitter<JobsServiceEvents> {
  static async start(options: JobsServiceOptions): Promise<JobsService> {
    const { client } = options;
    const service = new JobsService(client, options.resolveDocument);
    await client.subscribe(["$aws/things/+/jobs/start-next", "$aws/things/+/jobs/+/update", "$aws/things/+/jobs/get"]);
    return service;
  }

  /** thingName -> jobId -> execution, in queue order. */
  private readonly executions = new Map<string, Map<string, JobExecution>>();
  private executionCounter = 0;

  private constructor(
    private readonly client: MqttTestClient,
    private readonly resolveDocument: (execution: JobExecution) => Promise<unknown> = async (e) => e.jobDocument,
  ) {
    super();
    client.onMessage((topic, payload) => {
      void this.handle(topic, payload.toString("utf8")).catch(() => undefined);
    });
  }

  /** Queue a job execution for a thing and notify it if this became its next job. */
  createJob(thingName: string, jobId: string, jobDocument: unknown): JobExecution {
    const forThing = this.executions.get(thingName) ?? new Map<string, JobExecution>();
    this.executions.set(thingName, forThing);
    if (forThing.has(jobId)) throw new Error(`job ${jobId} already exists for ${thingName}`);
    const now = seconds();
    const execution: JobExecution = {
      jobId,
      thingName,
      status: "QUEUED",
      statusDetails: {},
      jobDocument,
      queuedAt: now,
      lastUpdatedAt: now,
      versionNumber: 1,
      executionNumber: ++this.executionCounter,
      retryAttempt: 0,
      history: [{ status: "QUEUED", statusDetails: {}, at: Date.now() }],
    };
    const before = this.next(thingName)?.jobId;
    forThing.set(jobId, execution);
    if (this.next(thingName)?.jobId !== before) void this.notifyNext(thingName);
    return execution;
  }

  /** Every thing's execution of a job, in creation order. */
  executionsOf(jobId: string): JobExecution[] {
    return [...this.executions.values()]
      .flatMap((forThing) => [...forThing.values()].filter((e) => e.jobId === jobId))
      .sort((a, b) => a.executionNumber - b.executionNumber);
  }

  /** CancelJob for one execution: QUEUED ones, and IN_PROGRESS ones only with `force`; false when left alone. */
  cancelExecution(thingName: string, jobId: string, force: boolean): boolean {
    const execution = this.getExecution(thingName, jobId);
    if (!execution || TERMINAL.has(execution.status)) return false;
    if (execution.status === "IN_PROGRESS" && !force) return false;
    const wasNext = this.next(thingName)?.jobId === jobId;
    this.transition(execution, "CANCELED", execution.statusDetails);
    if (wasNext) void this.notifyNext(thingName);
    return true;
  }

  /** An automatic retry of a FAILED or TIMED_OUT execution: QUEUED again with a new execution number. */
  retry(thingName: string, jobId: string): boolean {
    const execution = this.getExecution(thingName, jobId);
    if (!execution || (execution.status !== "FAILED" && execution.status !== "TIMED_OUT")) return false;
    const before = this.next(thingName)?.jobId;
    execution.executionNumber = ++this.executionCounter;
    execution.retryAttempt++;
    execution.startedAt = undefined;
    this.transition(execution, "QUEUED", {});
    if (this.next(thingName)?.jobId !== before || before === jobId) void this.notifyNext(thingName);
    return true;
  }

  getExecution(thingName: string, jobId: string): JobExecution | undefined {
    return this.executions.get(thingName)?.get(jobId);
  }

  /** Resolve when the execution reaches a terminal status. */
  waitForTerminal(thingName: string, jobId: string, timeoutMs = 30_000): Promise<JobExecution> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const e = this.getExecution(thingName, jobId);
        if (e && TERMINAL.has(e.status)) {
          clearTimeout(timer);
          this.off("execution-updated", onUpdate);
          resolve(e);
          return true;
        }
        return false;
      };
      const onUpdate = (): void => {
        check();
      };
      const timer = setTimeout(() => {
        this.off("execution-updated", onUpdate);
        reject(new Error(`job ${jobId} on ${thingName} not terminal within ${timeoutMs} ms (status ${this.getExecution(thingName, jobId)?.status})`));
      }, timeoutMs);
      this.on("execution-updated", onUpdate);
      check();
    });
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  /** IN_PROGRESS first, then QUEUED, each oldest first (AWS's order). */
  private next(thingName: string): JobExecution | undefined {
    const all = [...(this.executions.get(thingName)?.values() ?? [])];
    return all.find((e) => e.status === "IN_PROGRESS") ?? all.find((e) => e.status === "QUEUED");
  }

  private async view(e: JobExecution): Promise<Record<string, unknown>> {
    return {
      jobId: e.jobId,
      thingName: e.thingName,
      status: e.status,
      statusDetails: e.statusDetails,
      queuedAt: e.queuedAt,
      ...(e.startedAt !== undefined ? { startedAt: e.startedAt } : {}),
      lastUpdatedAt: e.lastUpdatedAt,
      versionNumber: e.versionNumber,
      executionNumber: e.executionNumber,
      jobDocument: await this.resolveDocument(e),
    };
  }

  /**
   * A notification, never awaited by its callers: one that cannot be sent (the service is stopping, the
   * broker restarts) is dropped, as a device learns its next job from start-next on every connect anyway.
   */
  private async notifyNext(thingName: string): Promise<void> {
    const next = this.next(thingName);
    try {
      await this.client.publish(`$aws/things/${thingName}/jobs/notify-next`, {
        timestamp: seconds(),
        ...(next ? { execution: await this.view(next) } : {}),
      });
    } catch {
      // Dropped (see above); an unhandled rejection here would crash the twin.
    }
  }

  private async handle(topic: string, text: string): Promise<void> {
    const m = /^\$aws\/things\/([^/]+)\/jobs\/(?:(start-next|get)|([^/]+)\/update)$/.exec(topic);
    if (!m) return;
    const thingName = m[1]!;
    let body: Record<string, unknown> = {};
    try {
      if (text.trim()) body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      await this.client.publish(`${topic}/rejected`, { code: "InvalidJson", message: "Request payload is not valid JSON.", timestamp: seconds() });
      return;
    }
    const clientToken = typeof body.clientToken === "string" ? body.clientToken : undefined;
    const token = clientToken !== undefined ? { clientToken } : {};
    if (m[2] === "get") {
      const all = [...(this.executions.get(thingName)?.values() ?? [])];
      const summary = (e: JobExecution) => ({
        jobId: e.jobId,
        queuedAt: e.queuedAt,
        startedAt: e.startedAt,
        lastUpdatedAt: e.lastUpdatedAt,
        versionNumber: e.versionNumber,
        executionNumber: e.executionNumber,
      });
      await this.client.publish(`${topic}/accepted`, {
        inProgressJobs: all.filter((e) => e.status === "IN_PROGRESS").map(summary),
        queuedJobs: all.filter((e) => e.status === "QUEUED").map(summary),
        timestamp: seconds(),
        ...token,
      });
      return;
    }
    if (m[2] === "start-next") {
      const next = this.next(thingName);
      if (next && next.status === "QUEUED") {
        this.transition(next, "IN_PROGRESS", (body.statusDetails as Record<string, string> | undefined) ?? next.statusDetails);
        next.startedAt = seconds();
      }
      await this.client.publish(`${topic}/accepted`, { ...(next ? { execution: await this.view(next) } : {}), timestamp: seconds(), ...token });
      return;
    }
    const jobId = m[3]!;
    const execution = this.getExecution(thingName, jobId);
    const rejectWith = (code: string, message: string): Promise<void> =>
      this.client.publish(`${topic}/rejected`, {
        code,
        message,
        timestamp: seconds(),
        ...token,
        ...(execution ? { executionState: { status: execution.status, statusDetails: execution.statusDetails, versionNumber: execution.versionNumber } } : {}),
      });
    if (!execution) return rejectWith("ResourceNotFound", `Job execution ${jobId} for ${thingName} does not exist.`);
    const status = body.status;
    if (typeof status !== "string" || !DEVICE_SETTABLE.has(status)) return rejectWith("InvalidRequest", `Invalid status ${String(status)}.`);
    if (TERMINAL.has(execution.status)) return rejectWith("TerminalStateReached", `Job execution is already ${execution.status}.`);
    if (body.expectedVersion !== undefined && Number(body.expectedVersion) !== execution.versionNumber) {
      return rejectWith("VersionMismatch", `Expected version ${String(body.expectedVersion)}, current ${execution.versionNumber}.`);
    }
    const details = body.statusDetails;
    if (details !== undefined && (typeof details !== "object" || details === null || Object.values(details).some((v) => typeof v !== "string"))) {
      return rejectWith("InvalidRequest", "statusDetails must be a map of strings.");
    }
    this.transition(execution, status as JobExecutionStatus, (details as Record<string, string> | undefined) ?? execution.statusDetails);
    await this.client.publish(`${topic}/accepted`, {
      executionState: { status: execution.status, statusDetails: execution.statusDetails, versionNumber: execution.versionNumber },
      timestamp: seconds(),
      ...token,
    });
    if (TERMINAL.has(execution.status)) await this.notifyNext(thingName);
  }

  private transition(execution: JobExecution, status: JobExecutionStatus, statusDetails: Record<string, string>): void {
    execution.status = status;
    execution.statusDetails = { ...statusDetails };
    execution.lastUpdatedAt = seconds();
    execution.versionNumber++;
    execution.history.push({ status, statusDetails: { ...statusDetails }, at: Date.now() });
    this.emit("execution-updated", execution);
  }
}
