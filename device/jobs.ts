/**
 * OTA firmware updates over the AWS IoT Jobs MQTT API.
 *
 * - Subscribes to `$aws/things/<thing>/jobs/notify-next` and the `/accepted`/`/rejected` replies of
 *   `start-next` and `<jobId>/update`.
 * - On every connect and on every notify-next that carries an execution, publishes `start-next`
 *   `{clientToken}`; the service answers with `{execution: {jobId, jobDocument, status, versionNumber, ...}}`
 *   (no `execution` when nothing is pending) and marks it IN_PROGRESS.
 * - Job document: `{operation: "firmware-update", version, url, sha256, size?}`. The firmware is streamed
 *   from `url` (http or https) to `<dataDir>/firmware/`, hashed on the way; a SHA-256 (or size) mismatch fails
 *   the job and the install command is never run. Otherwise the configured install command is spawned
 *   without a shell as `argv... <file>` (version and job id passed as environment variables, never
 *   interpolated into a command line).
 * - Status updates `{status, statusDetails, clientToken}` go to `$aws/things/<thing>/jobs/<jobId>/update`
 *   through the durable outbox: IN_PROGRESS (downloading, installing), then SUCCEEDED or FAILED with
 *   `statusDetails.reason`.
 * - Finished job ids are remembered on disk so a restart before the final update was delivered does not
 *   run the same job twice.
 */
import { spawn } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as path from "node:path";
import { readJsonSync, writeFileAtomicSync } from "./files";
import { Logger } from "./log";

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
  /** Called after a firmware version was installed. */
  readonly onInstalled?: (version: string) => void;
  /** @default 15 minutes */
  readonly installTimeoutMs?: number;
  /** @default 60 seconds without data */
  readonly downloadIdleTimeoutMs?: number;
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

/** A failure with a reason for `statusDetails.reason`. */
class JobFailure extends Error {
  constructor(
    readonly reason: string,
    readonly details: Record<string, string> = {},
  ) {
    super(reason);
  }
}

export class JobsAgent {
  private readonly prefix: string;
  private busyJobId?: string;
  private stopped = false;
  private readonly abort = new AbortController();
  private readonly finishedFile: string;
  private finished: string[];

  constructor(private readonly options: JobsAgentOptions) {
    this.prefix = `$aws/things/${options.thingName}/jobs`;
    this.finishedFile = path.join(options.dataDir, "jobs.json");
    this.finished = readJsonSync<{ finished: string[] }>(this.finishedFile)?.finished ?? [];
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
      this.options.log.warn("start-next not sent", { error: err instanceof Error ? err.message : String(err) });
    });
  }

  /** Handle an incoming message; false when the topic is not a jobs topic. */
  handleMessage(topic: string, text: string): boolean {
    if (!topic.startsWith(`${this.prefix}/`)) return false;
    const rest = topic.slice(this.prefix.length + 1);
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      this.options.log.warn("unparsable jobs message", { topic });
      return true;
    }
    if (rest === "notify-next") {
      if (body.execution) this.requestNext();
    } else if (rest === "start-next/accepted") {
      const execution = body.execution as JobExecution | undefined;
      if (execution?.jobId) this.start(execution);
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
    if (this.finished.includes(jobId)) {
      // Finished before a restart; its final update is still in the outbox.
      this.options.log.info("job already finished here; waiting for its final update to be delivered", { jobId });
      return;
    }
    this.busyJobId = jobId;
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
    const doc = parseFirmwareJobDocument(typeof rawDocument === "string" ? safeParse(rawDocument) : rawDocument);
    if (typeof doc === "string") {
      log.warn("job document rejected", { reason: doc });
      this.finish(jobId, "FAILED", { reason: `invalid job document: ${doc}` });
      return;
    }
    log.info("firmware update started", { version: doc.version, url: redactUrl(doc.url) });
    const dir = path.join(this.options.dataDir, "firmware");
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const partial = path.join(dir, `${jobId}.partial`);
    const target = path.join(dir, `${jobId}-${doc.version}.bin`);
    try {
      this.update(jobId, "IN_PROGRESS", { step: "downloading", version: doc.version });
      const limit = doc.size ?? this.options.maxFirmwareBytes;
      const { sha256, bytes } = await download(doc.url, partial, limit, this.options.downloadIdleTimeoutMs ?? 60_000, this.abort.signal);
      if (doc.size !== undefined && bytes !== doc.size) {
        throw new JobFailure("size mismatch", { expectedSize: String(doc.size), actualSize: String(bytes) });
      }
      if (sha256 !== doc.sha256) {
        throw new JobFailure("checksum mismatch", { expectedSha256: doc.sha256, actualSha256: sha256 });
      }
      fs.renameSync(partial, target);
      log.info("firmware downloaded and verified", { bytes, sha256 });
      this.update(jobId, "IN_PROGRESS", { step: "installing", version: doc.version });
      await this.install(target, doc, jobId, log);
      this.options.onInstalled?.(doc.version);
      log.info("firmware installed", { version: doc.version });
      this.finish(jobId, "SUCCEEDED", { version: doc.version });
    } catch (err) {
      const failure = err instanceof JobFailure ? err : new JobFailure(err instanceof Error ? err.message : String(err));
      if (this.stopped) {
        // Shutdown interrupted the job: leave it IN_PROGRESS; start-next hands it back after the restart.
        log.warn("firmware update interrupted by shutdown", { reason: failure.reason });
        return;
      }
      log.error("firmware update failed", { reason: failure.reason, ...failure.details });
      this.finish(jobId, "FAILED", { reason: failure.reason, version: doc.version, ...failure.details });
    } finally {
      fs.rmSync(partial, { force: true });
      fs.rmSync(target, { force: true });
    }
  }

  private finish(jobId: string, status: JobStatus, statusDetails: Record<string, string>): void {
    this.finished = [...this.finished.filter((j) => j !== jobId), jobId].slice(-50);
    writeFileAtomicSync(this.finishedFile, JSON.stringify({ finished: this.finished }) + "\n", 0o600);
    this.update(jobId, status, statusDetails);
  }

  private install(file: string, doc: FirmwareJobDocument, jobId: string, log: Logger): Promise<void> {
    const [command, ...args] = this.options.installCommand;
    return new Promise<void>((resolve, reject) => {
      const child = spawn(command!, [...args, file], {
        shell: false,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, FIRMWARE_VERSION: doc.version, FIRMWARE_SHA256: doc.sha256, FIRMWARE_FILE: file, JOB_ID: jobId },
      });
      let output = "";
      const collect = (chunk: Buffer): void => {
        output = (output + chunk.toString("utf8")).slice(-2048);
      };
      child.stdout!.on("data", collect);
      child.stderr!.on("data", collect);
      const timer = setTimeout(() => child.kill("SIGKILL"), this.options.installTimeoutMs ?? 15 * 60_000);
      const onAbort = (): void => {
        child.kill("SIGTERM");
      };
      this.abort.signal.addEventListener("abort", onAbort, { once: true });
      child.on("error", (err) => {
        clearTimeout(timer);
        this.abort.signal.removeEventListener("abort", onAbort);
        reject(new JobFailure(`install command could not be started: ${err.message}`));
      });
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        this.abort.signal.removeEventListener("abort", onAbort);
        log.info("install command finished", { code, signal, output: output.trim().slice(-512) });
        if (code === 0) resolve();
        else reject(new JobFailure(`install command exited with ${code !== null ? `code ${code}` : `signal ${signal}`}`, { output: output.trim().slice(-512) }));
      });
    });
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

/** Stream `url` to `file`, hashing as it goes; follows up to 3 redirects; stops beyond `limit` bytes. */
export function download(
  url: string,
  file: string,
  limit: number,
  idleTimeoutMs: number,
  signal: AbortSignal,
  redirects = 3,
): Promise<{ sha256: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const get = u.protocol === "https:" ? https.get : http.get;
    const req = get(u, { signal, timeout: idleTimeoutMs }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location && redirects > 0) {
        res.resume();
        const next = new URL(res.headers.location, u).toString();
        download(next, file, limit, idleTimeoutMs, signal, redirects - 1).then(resolve, reject);
        return;
      }
      if (status !== 200) {
        res.resume();
        reject(new JobFailure(`download failed: HTTP ${status}`));
        return;
      }
      const declared = Number(res.headers["content-length"]);
      if (Number.isFinite(declared) && declared > limit) {
        res.destroy();
        reject(new JobFailure(`download failed: ${declared} bytes exceeds the limit of ${limit}`));
        return;
      }
      const hash = createHash("sha256");
      const out = fs.createWriteStream(file, { mode: 0o600 });
      let bytes = 0;
      let failed = false;
      const fail = (err: Error): void => {
        if (failed) return;
        failed = true;
        res.destroy();
        out.destroy();
        reject(err instanceof JobFailure ? err : new JobFailure(`download failed: ${err.message}`));
      };
      res.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > limit) {
          fail(new JobFailure(`download failed: more than ${limit} bytes`));
          return;
        }
        hash.update(chunk);
      });
      res.on("error", fail);
      out.on("error", fail);
      out.on("finish", () => {
        if (failed) return;
        // Durable before we act on it.
        fs.open(file, "r", (err, fd) => {
          if (err) return fail(err);
          fs.fsync(fd, () => fs.close(fd, () => resolve({ sha256: hash.digest("hex"), bytes })));
        });
      });
      res.pipe(out);
    });
    req.on("timeout", () => req.destroy(new Error("no data within the idle timeout")));
    req.on("error", (err) => reject(err instanceof JobFailure ? err : new JobFailure(`download failed: ${err.message}`)));
  });
}
