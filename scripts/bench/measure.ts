/** Small helpers of `npm run bench`: run a command under /usr/bin/time, medians, JSON lines. */
import { spawnSync } from "node:child_process";

export interface Timed {
  readonly seconds: number;
  /** Peak resident memory of the command (largest process GNU time waited for), MiB. */
  readonly peakMiB: number;
  readonly stdout: string;
}

/** Runs `command args` to completion; fails with its stderr when it exits non-zero. */
export function timed(
  command: string,
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; allowFailure?: boolean },
): Timed & { exitCode: number } {
  const result = spawnSync("/usr/bin/time", ["-f", "__TIME__ %e %M", command, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  const line = /__TIME__ ([\d.]+) (\d+)/.exec(result.stderr ?? "");
  if ((result.status !== 0 && !options.allowFailure) || !line) {
    throw new Error(`${command} ${args.join(" ")} failed (exit ${result.status}): ${(result.stderr ?? "").slice(-2000)}`);
  }
  return { seconds: Number(line[1]), peakMiB: Number(line[2]) / 1024, stdout: result.stdout, exitCode: result.status ?? -1 };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error("median of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The last line of `stdout` that parses as a JSON object. */
export function lastJson<T>(stdout: string): T {
  const lines = stdout.trim().split("\n").reverse();
  for (const line of lines) {
    if (!line.startsWith("{")) continue;
    try {
      return JSON.parse(line) as T;
    } catch {
      // not this one
    }
  }
  throw new Error(`no JSON line in output:\n${stdout.slice(-1000)}`);
}

export const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;
