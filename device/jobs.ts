/**
 * OTA firmware updates over the AWS IoT Jobs MQTT API.
 *
 * - Subscribes to `$aws/things/<thing>/jobs/notify-next` and the `/accepted`/`/rejected` replies of
 *   `start-next` and `<jobId>/update`.
 * - On every connect and on every notify-next that carries an execution, publishes `start-next`
 *   `{clientToken}`; the service answers with `{execution: {jobId, jobDocument, status, versionNumber, ...}}`
 *   (no `execution` when nothing is pending) and marks it IN_PROGRESS.
 * - Job document: `{operation: "firmware-update", version, url, sha256, size?}`. A job for the version already
 *   running SUCCEEDS at once without reinstalling. Otherwise the firmware is streamed from `url` (http or
 *   https) to `<dataDir>/firmware/`, hashed on the way; a SHA-256 (or size) mismatch fails the job and the
 *   install command is never run. Then the configured install command is spawned without a shell as
 *   `argv... <file>` (version and job id passed as environment variables, never interpolated into a command
 *   line), and the configured health check must exit 0 within its timeout.
 * - If the installer or the health check fails, the previous version is restored (the rollback command, or
 *   the retained image of the previous version reinstalled) and the job FAILS with `statusDetails.reason`
 *   and `rolledBack`.
 * - Status updates `{status, statusDetails, clientToken}` go to `$aws/things/<thing>/jobs/<jobId>/update`
 *   through the durable outbox: IN_PROGRESS (downloading, installing, health-check), then SUCCEEDED or FAILED.
 * - A restart or power cut mid-way leaves the job IN_PROGRESS and a journal on disk; `start-next` hands the
 *   job back after the restart and the update resumes at the phase it reached (see firmware-steps.ts).
 * - Finished job ids are remembered on disk so a restart before the final update was delivered does not
 *   run the same job twice.
 */
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { readJsonSync, writeFileAtomicSync } from "./files";
import { readPrefixedMessage } from "./topic-message";
import { download } from "./firmware-download";
import { FirmwareImages, JobFailure, UpdateJournal, UpdateJournalEntry, UpdatePhase, exitText, runCommand, waitUntilHealthy } from "./firmware-steps";
import { Logger, errorMessage } from "./log";

/** What an OTA job document must contain. */
export interface FirmwareJobDocument {
  readonly operation: "firmware-update";
  readonly version: string;
  readonly url: string;
  readonly sha256: string;
  readonly size?: number;
}

export type JobStatus = "IN_PROGRESS" | "SUCCEEDED" | "FAILED" | "REJECTED";

export interface JobsAgentOptions {
  readonly thingName: string;
  readonly dataDir: string;
  readonly installCommand: readonly string[];
  readonly maxFirmwareBytes: number;
  readonly log: Logger;
  /** Durable publish (outbox). */
  readonly publishDurable: (topic: string, body: unknown) => void;
  /** Immediate QoS 1 publish for requests that are repeated anyway (start-next). */
  readonly publishNow: (topic: string, body: unknown) => Promise<void>;
  /** The firmware version running now (a job for it succeeds without reinstalling). */
  readonly currentVersion: () => string;
  /** argv run after install until it exits 0; absent: no health check. FIRMWARE_VERSION is in its environment. */
  readonly healthCheckCommand?: readonly string[];
  /** @default 2 minutes */
  readonly healthCheckTimeoutMs?: number;
  /** @default 5 seconds */
  readonly healthCheckIntervalMs?: number;
  /** argv that restores the previous version (A/B systems); absent: the retained previous image is reinstalled. */
  readonly rollbackCommand?: readonly string[];
  /** Called after a firmware version was installed and passed its health check. */
  readonly onInstalled?: (version: string) => void;
  /** @default 15 minutes */
  readonly installTimeoutMs?: number;
  /** @default 60 seconds without data */
  readonly downloadIdleTimeoutMs?: number;
  /**
   * Jobs other than firmware updates, by their document's `operation` (e.g. `rotate-certificate`): the job
   * SUCCEEDS with the returned details, or FAILS with the error's message.
   */
  readonly operations?: Readonly<Record<string, () => Promise<Record<string, string>>>>;
}

interface JobExecution {
  jobId?: string;
  status?: string;
  jobDocument?: unknown;
  versionNumber?: number;
  executionNumber?: number;
}

const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;
const JOB_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** Validate a job document; returns the reason it is unusable, or the typed document. */
export function parseFirmwareJobDocument(doc: unknown): FirmwareJobDocument | string {
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return "job document is not a JSON object";
  const d = doc as Record<string, unknown>;
  if (d.operation !== "firmware-update") return `unsupported operation ${JSON.stringify(d.operation)}`;
  if (typeof d.version !== "string" || !VERSION_RE.test(d.version)) return "version must match [A-Za-z0-9._+-]{1,64}";
  if (typeof d.url !== "string") return "url is missing";
  let url: URL;
  try {
    url = new URL(d.url);
  } catch {
    return "url is not a valid URL";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return `url scheme ${url.protocol} is not http or https`;
  if (typeof d.sha256 !== "string" || !/^[0-9a-fA-F]{64}$/.test(d.sha256)) return "sha256 must be 64 hex digits";
  if (d.size !== undefined && (typeof d.size !== "number" || !Number.isInteger(d.size) || d.size < 0)) return "size must be a non-negative integer";
  return {
    operation: "firmware-update",
    version: d.version,
    url: d.url,
    sha256: d.sha256.toLowerCase(),
    ...(d.size !== undefined ? { size: d.size as number } : {}),
  };
}

export class JobsAgent {
  private readonly prefix: string;
  private busyJobId?: string;
  private busyKey = "";
  private stopped = false;
  private readonly abort = new AbortController();
  private readonly finishedFile: string;
  private finished: string[];
  private readonly journal: UpdateJournal;
  private readonly images: FirmwareImages;

  constructor(private readonly options: JobsAgentOptions) {
    this.prefix = `$aws/things/${options.thingName}/jobs`;
    this.finishedFile = path.join(options.dataDir, "jobs.json");
    this.finished = readJsonSync<{ finished: string[] }>(this.finishedFile)?.finished ?? [];
    this.journal = new UpdateJournal(options.dataDir);
    this.images = new FirmwareImages(options.dataDir);
  }

  /** Topic filters to subscribe to. */
  subscriptions(): string[] {
    return [
      `${this.prefix}/notify-next`,
      `${this.prefix}/start-next/accepted`,
      `${this.prefix}/start-next/rejected`,
      `${this.prefix}/+/update/accepted`,
      `${this.prefix}/+/update/rejected`,
    ];
  }

  /** The job being executed, if any. */
  get currentJobId(): string | undefined {
    return this.busyJobId;
  }

  /** Ask for the next pending job (on connect, after a job, on notify-next). */
  requestNext(): void {
    if (this.stopped) return;
    if (this.busyJobId) return; // asked again when the running job finishes
    this.options.publishNow(`${this.prefix}/start-next`, { clientToken: randomUUID() }).catch((err: unknown) => {
      this.options.log.warn("start-next not sent", { error: errorMessage(err) });
    });
  }

  /** Handle an incoming message; false when the topic is not a jobs topic. */
  handleMessage(topic: string, text: string): boolean {
    const message = readPrefixedMessage(this.prefix, topic, text, this.options.log, "jobs");
    if (message === undefined) return false;
    if (message === null) return true;
    const { rest, body } = message;
    if (rest === "notify-next") {
      if (body.execution) this.requestNext();
    } else if (rest === "start-next/accepted") {
      const execution = body.execution as JobExecution | undefined;
      if (execution?.jobId) this.start(execution);
      else this.settleOrphan();
    } else if (rest === "start-next/rejected") {
      this.options.log.warn("start-next rejected", { code: body.code, message: body.message });
    } else if (rest.endsWith("/update/accepted")) {
      this.options.log.debug("job update accepted", { jobId: rest.split("/")[0], executionState: body.executionState });
    } else if (rest.endsWith("/update/rejected")) {
      this.options.log.warn("job update rejected", { jobId: rest.split("/")[0], code: body.code, message: body.message });
    }
    return true;
  }

  /** Abort a running download or install (shutdown). */
  stop(): void {
    this.stopped = true;
    this.abort.abort();
  }

  private start(execution: JobExecution): void {
    const jobId = execution.jobId!;
    if (!JOB_ID_RE.test(jobId)) {
      this.options.log.error("ignoring job with an invalid id", { jobId });
      return;
    }
    if (this.busyJobId) return; // the next one is requested when this one finishes
    // Per execution, not per job: Jobs' automatic retry hands the same job back with a new execution number.
    const key = `${jobId}#${execution.executionNumber ?? 0}`;
    if (this.finished.includes(key)) {
      // Finished before a restart; its final update is still in the outbox.
      this.options.log.info("job already finished here; waiting for its final update to be delivered", { jobId, executionNumber: execution.executionNumber });
      return;
    }
    this.busyJobId = jobId;
    this.busyKey = key;
    void this.run(jobId, execution.jobDocument).finally(() => {
      this.busyJobId = undefined;
      if (!this.stopped) this.requestNext();
    });
  }

  private update(jobId: string, status: JobStatus, statusDetails: Record<string, string>): void {
    const details: Record<string, string> = {};
    for (const [k, v] of Object.entries(statusDetails)) details[k] = v.slice(0, 1024);
    this.options.publishDurable(`${this.prefix}/${jobId}/update`, { status, statusDetails: details, clientToken: randomUUID() });
  }

  private async run(jobId: string, rawDocument: unknown): Promise<void> {
    const log = this.options.log.child({ jobId });
    const raw = typeof rawDocument === "string" ? safeParse(rawDocument) : rawDocument;
    const operation = typeof raw === "object" && raw !== null ? (raw as { operation?: unknown }).operation : undefined;
    const other = typeof operation === "string" && operation !== "firmware-update" ? this.options.operations?.[operation] : undefined;
    if (other) {
      this.update(jobId, "IN_PROGRESS", { step: operation as string });
      try {
        this.finish(jobId, "SUCCEEDED", await other());
      } catch (err) {
        log.error("job failed", { operation, error: (err as Error).message });
        this.finish(jobId, "FAILED", { reason: (err as Error).message });
      }
      return;
    }
    const doc = parseFirmwareJobDocument(typeof rawDocument === "string" ? safeParse(rawDocument) : rawDocument);
    if (typeof doc === "string") {
      log.warn("job document rejected", { reason: doc });
      this.finish(jobId, "FAILED", { reason: `invalid job document: ${doc}` });
      return;
    }
    const inflight = this.journal.read();
    const resumed = inflight?.jobId === jobId && inflight.version === doc.version ? inflight : undefined;
    if (inflight && !resumed) await this.settle(inflight, log);
    const running = this.options.currentVersion();
    if (!resumed && doc.version === running) {
      log.info("firmware version already running; nothing to install", { version: doc.version });
      this.finish(jobId, "SUCCEEDED", { version: doc.version, note: "already running this version" });
      return;
    }
    const previousVersion = resumed?.previousVersion ?? running;
    const image = this.images.jobImage(jobId);
    const partial = `${image}.partial`;
    let phase: UpdatePhase = resumed?.phase ?? "downloading";
    if (phase === "installing" && !fs.existsSync(image)) phase = "downloading";
    if (resumed) log.warn("resuming a firmware update interrupted by a restart", { version: doc.version, phase });
    else log.info("firmware update started", { version: doc.version, url: redactUrl(doc.url) });
    const enter = (next: UpdatePhase, step: string): void => {
      phase = next;
      this.journal.write({ jobId, version: doc.version, previousVersion, phase });
      this.update(jobId, "IN_PROGRESS", { step, version: doc.version, ...(resumed ? { resumed: "true" } : {}) });
    };
    try {
      fs.mkdirSync(this.images.dir, { recursive: true, mode: 0o700 });
      if (phase === "downloading") {
        enter("downloading", "downloading");
        await this.fetchVerified(doc, partial, image, log);
      }
      if (phase === "downloading" || phase === "installing") {
        enter("installing", "installing");
        const result = await runCommand([...this.options.installCommand, image], {
          env: { ...this.firmwareEnv(doc.version, jobId, image), FIRMWARE_SHA256: doc.sha256 },
          timeoutMs: this.options.installTimeoutMs ?? 15 * 60_000,
          signal: this.abort.signal,
        });
        log.info("install command finished", { code: result.code, signal: result.signal, output: result.output });
        if (this.stopped) throw new JobFailure("interrupted during install");
        if (result.code !== 0) throw new JobFailure(`install command exited with ${exitText(result)}`, result.output ? { output: result.output } : {});
      }
      enter("checking", "health-check");
      const unhealthy = await this.checkHealth(doc.version, jobId);
      if (unhealthy) throw new JobFailure(unhealthy);
      this.images.promote(jobId);
      this.options.onInstalled?.(doc.version);
      this.journal.clear();
      log.info("firmware installed and healthy", { version: doc.version });
      this.finish(jobId, "SUCCEEDED", { version: doc.version, previousVersion });
    } catch (err) {
      const failure = err instanceof JobFailure ? err : new JobFailure(errorMessage(err));
      if (this.stopped) {
        // Shutdown or power loss: the job stays IN_PROGRESS with the journal; start-next hands it back after the restart.
        log.warn("firmware update interrupted by shutdown", { reason: failure.reason, phase });
        return;
      }
      // Once the installer ran, the running firmware may be the new, broken one: restore the previous version.
      const restored = phase === "downloading" ? {} : await this.rollback(previousVersion, doc.version, jobId, log);
      this.journal.clear();
      log.error("firmware update failed", { reason: failure.reason, ...failure.details, ...restored });
      this.finish(jobId, "FAILED", { reason: failure.reason, version: doc.version, ...failure.details, ...restored });
    } finally {
      fs.rmSync(partial, { force: true });
      if (!this.stopped) fs.rmSync(image, { force: true });
    }
  }

  /** Nothing handed back, but the journal says an update was under way: settle it before anything else. */
  private settleOrphan(): void {
    const entry = this.journal.read();
    if (!entry || this.busyJobId || this.stopped) return;
    this.busyJobId = entry.jobId;
    void this.settle(entry, this.options.log.child({ jobId: entry.jobId })).finally(() => {
      this.busyJobId = undefined;
    });
  }

  /**
   * An update interrupted by a restart whose job was not handed back (canceled or removed meanwhile): if the
   * installer may have run, keep the new version when it is healthy, otherwise restore the previous one.
   */
  private async settle(entry: UpdateJournalEntry, log: Logger): Promise<void> {
    log.warn("settling an interrupted update whose job was not handed back", { version: entry.version, phase: entry.phase });
    if (entry.phase !== "downloading") {
      const unhealthy = await this.checkHealth(entry.version, entry.jobId);
      if (!unhealthy) {
        this.images.promote(entry.jobId);
        this.options.onInstalled?.(entry.version);
        log.info("interrupted update is installed and healthy; keeping it", { version: entry.version });
      } else {
        const restored = await this.rollback(entry.previousVersion, entry.version, entry.jobId, log);
        log.error("interrupted update is unhealthy; restored the previous version", { reason: unhealthy, ...restored });
      }
    }
    fs.rmSync(this.images.jobImage(entry.jobId), { force: true });
    this.journal.clear();
  }

  private async fetchVerified(doc: FirmwareJobDocument, partial: string, image: string, log: Logger): Promise<void> {
    const limit = doc.size ?? this.options.maxFirmwareBytes;
    const { sha256, bytes } = await download(doc.url, partial, limit, this.options.downloadIdleTimeoutMs ?? 60_000, this.abort.signal);
    if (doc.size !== undefined && bytes !== doc.size) {
      throw new JobFailure("size mismatch", { expectedSize: String(doc.size), actualSize: String(bytes) });
    }
    if (sha256 !== doc.sha256) {
      throw new JobFailure("checksum mismatch", { expectedSha256: doc.sha256, actualSha256: sha256 });
    }
    fs.renameSync(partial, image);
    log.info("firmware downloaded and verified", { bytes, sha256 });
  }

  private firmwareEnv(version: string, jobId: string, file?: string): Record<string, string> {
    return { FIRMWARE_VERSION: version, JOB_ID: jobId, ...(file ? { FIRMWARE_FILE: file } : {}) };
  }

  /** Undefined when healthy (or no health check is configured), else the reason. */
  private async checkHealth(version: string, jobId: string): Promise<string | undefined> {
    const command = this.options.healthCheckCommand;
    if (!command || command.length === 0) return undefined;
    return waitUntilHealthy({
      command,
      env: this.firmwareEnv(version, jobId),
      timeoutMs: this.options.healthCheckTimeoutMs ?? 120_000,
      intervalMs: this.options.healthCheckIntervalMs ?? 5_000,
      signal: this.abort.signal,
    });
  }

  /** Restore `previousVersion`: the rollback command if configured, else reinstall the retained image. */
  private async rollback(previousVersion: string, failedVersion: string, jobId: string, log: Logger): Promise<Record<string, string>> {
    const retained = this.images.current;
    const argv = this.options.rollbackCommand?.length ? [...this.options.rollbackCommand] : retained ? [...this.options.installCommand, retained] : undefined;
    if (!argv) {
      return { rolledBack: "false", rollbackReason: `no retained image of ${previousVersion} and no rollbackCommand configured` };
    }
    const env = { ...this.firmwareEnv(previousVersion, jobId, retained), FAILED_FIRMWARE_VERSION: failedVersion, FIRMWARE_ROLLBACK: "1" };
    try {
      const result = await runCommand(argv, { env, timeoutMs: this.options.installTimeoutMs ?? 15 * 60_000, signal: new AbortController().signal });
      if (result.code === 0) {
        log.warn("rolled back to the previous firmware", { previousVersion });
        return { rolledBack: "true", restoredVersion: previousVersion };
      }
      return { rolledBack: "false", rollbackReason: `rollback exited with ${exitText(result)}` };
    } catch (err) {
      return { rolledBack: "false", rollbackReason: err instanceof JobFailure ? err.reason : String(err) };
    }
  }

  private finish(jobId: string, status: JobStatus, statusDetails: Record<string, string>): void {
    this.finished = [...this.finished.filter((j) => j !== this.busyKey), this.busyKey].slice(-50);
    writeFileAtomicSync(this.finishedFile, JSON.stringify({ finished: this.finished }) + "\n", 0o600);
    this.update(jobId, status, statusDetails);
  }
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Drop query strings (pre-signed URL signatures) from logs. */
function redactUrl(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}
