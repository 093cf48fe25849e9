/**
 * The steps of a firmware update that must survive a restart: the on-disk update journal, running the
 * installer / health check / rollback commands (argv, never a shell), and the retained image of the
 * running version that a rollback reinstalls.
 *
 * Journal (`<dataDir>/ota-inflight.json`): `{jobId, version, previousVersion, phase}` written before each
 * phase, so that after a restart or power cut the agent knows where the job it gets back from
 * `start-next` stopped: `downloading` (download again), `installing` (install the verified image again;
 * installers must be idempotent) or `checking` (the installer finished: only the health check remains).
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { readJsonSync, writeFileAtomicSync } from "./files";

export type UpdatePhase = "downloading" | "installing" | "checking";

export interface UpdateJournalEntry {
  readonly jobId: string;
  readonly version: string;
  readonly previousVersion: string;
  readonly phase: UpdatePhase;
}

/** A failure with a reason for `statusDetails.reason`. */
export class JobFailure extends Error {
  constructor(
    readonly reason: string,
    readonly details: Record<string, string> = {},
  ) {
    super(reason);
  }
}

/** The update in flight, kept on disk across restarts. */
export class UpdateJournal {
  private readonly file: string;

  constructor(dataDir: string) {
    this.file = path.join(dataDir, "ota-inflight.json");
  }

  read(): UpdateJournalEntry | undefined {
    return readJsonSync<UpdateJournalEntry>(this.file);
  }

  write(entry: UpdateJournalEntry): void {
    writeFileAtomicSync(this.file, JSON.stringify(entry) + "\n", 0o600);
  }

  clear(): void {
    fs.rmSync(this.file, { force: true });
  }
}

/** Where verified images live: `<dataDir>/firmware/<jobId>.bin` while a job runs, `current.bin` after. */
export class FirmwareImages {
  readonly dir: string;

  constructor(dataDir: string) {
    this.dir = path.join(dataDir, "firmware");
  }

  jobImage(jobId: string): string {
    return path.join(this.dir, `${jobId}.bin`);
  }

  /** The image of the running version, if an OTA installed it (factory firmware has none). */
  get current(): string | undefined {
    const file = path.join(this.dir, "current.bin");
    return fs.existsSync(file) ? file : undefined;
  }

  /** The job's image becomes the retained image of the running version (none if it was lost). */
  promote(jobId: string): void {
    const current = path.join(this.dir, "current.bin");
    if (fs.existsSync(this.jobImage(jobId))) fs.renameSync(this.jobImage(jobId), current);
    else fs.rmSync(current, { force: true }); // an image of an older version must never be "restored" as this one
  }
}

export interface RunOptions {
  readonly env: Record<string, string>;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
}

/** Run `argv` without a shell; resolves with the exit code and the tail of its output. */
export function runCommand(argv: readonly string[], options: RunOptions): Promise<{ code: number | null; signal: string | null; output: string }> {
  const [command, ...args] = argv;
  return new Promise((resolve, reject) => {
    const child = spawn(command!, args, { shell: false, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...options.env } });
    let output = "";
    const collect = (chunk: Buffer): void => {
      output = (output + chunk.toString("utf8")).slice(-2048);
    };
    child.stdout!.on("data", collect);
    child.stderr!.on("data", collect);
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs);
    const onAbort = (): void => {
      child.kill("SIGTERM");
    };
    options.signal.addEventListener("abort", onAbort, { once: true });
    const done = (): void => {
      clearTimeout(timer);
      options.signal.removeEventListener("abort", onAbort);
    };
    child.on("error", (err) => {
      done();
      reject(new JobFailure(`${path.basename(command!)} could not be started: ${err.message}`));
    });
    child.on("close", (code, signal) => {
      done();
      resolve({ code, signal, output: output.trim().slice(-512) });
    });
  });
}

/** Describe a non-zero exit for a reason string. */
export function exitText(result: { code: number | null; signal: string | null }): string {
  return result.code !== null ? `code ${result.code}` : `signal ${result.signal}`;
}

export interface HealthCheckOptions {
  readonly command: readonly string[];
  readonly env: Record<string, string>;
  readonly timeoutMs: number;
  readonly intervalMs: number;
  readonly signal: AbortSignal;
}

/**
 * Run the health check until it exits 0 or `timeoutMs` has passed (a new firmware may need time to
 * come up). Resolves undefined when healthy, or the reason it never was.
 */
export async function waitUntilHealthy(options: HealthCheckOptions): Promise<string | undefined> {
  const deadline = Date.now() + options.timeoutMs;
  let last = "health check never ran";
  for (;;) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) return `health check did not pass within ${Math.round(options.timeoutMs / 1000)} s: ${last}`;
    const result = await runCommand(options.command, { env: options.env, timeoutMs: remaining, signal: options.signal });
    if (options.signal.aborted) throw new JobFailure("interrupted during the health check");
    if (result.code === 0) return undefined;
    last = `exited with ${exitText(result)}${result.output ? ` (${result.output.slice(-200)})` : ""}`;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.min(options.intervalMs, Math.max(0, deadline - Date.now())));
      options.signal.addEventListener(
        "abort",
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });
    if (options.signal.aborted) throw new JobFailure("interrupted during the health check");
  }
}
