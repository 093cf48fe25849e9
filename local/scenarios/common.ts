/** Helpers shared by the twin's scenarios: serial numbers, bounded parallelism, bringing a fleet up. */
import type { SimulatedPi } from "../fleet";
import type { PiOptions } from "../twin-pis";
import type { LocalTwin } from "../twin";

/** A Raspberry-Pi-like serial (16 hex digits, as in /proc/cpuinfo) for simulated Pi number `i`. */
export function serialFor(i: number, prefix = "c0de"): string {
  return `10000000${prefix}${i.toString(16).padStart(4, "0")}`;
}

/** Run `fn` over `items` with at most `limit` running at once; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(workers);
  return results;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `probe` until it is truthy or `timeoutMs` passed; resolves to the last value. */
export async function pollUntil<T>(probe: () => Promise<T> | T, timeoutMs: number, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value || Date.now() >= deadline) return value;
    await sleep(intervalMs);
  }
}

export interface FleetUpOptions {
  /** How many Pis provision (and start) at once. @default 8 */
  readonly concurrency?: number;
  readonly handlerModules?: readonly string[];
  /** Per-Pi options (room, telemetry interval) by serial and index. */
  readonly piOptions?: (serial: string, index: number) => PiOptions;
  /** Registry metadata (e.g. `{buildingId}`) by serial and index. @default none */
  readonly metadata?: (serial: string, index: number) => Readonly<Record<string, string>>;
}

export interface FleetUp {
  readonly registered: string[];
  /** Pis whose `provision` exited 0, started and connected. */
  readonly running: SimulatedPi[];
  /** Serial -> exit code of `provision` for the ones that did not succeed. */
  readonly failed: Map<string, number | null>;
  /** Wall time from the first `provision` process to the last one finishing (all provision before any starts). */
  readonly provisionMs: number;
}

/**
 * Register `serials` through the local API (round-robin over the config's device types), provision
 * each Pi on the IoT endpoint with the claim certificate, start its `run` process and wait until it is
 * connected.
 */
export async function bringUpFleet(twin: LocalTwin, serials: readonly string[], options: FleetUpOptions = {}): Promise<FleetUp> {
  const types = twin.config.deviceTypes;
  const concurrency = options.concurrency ?? 8;
  const registered: string[] = [];
  await mapLimit(serials, 10, async (serial, i) => {
    const res = await twin.registerDevice(serial, types[i % types.length]!, { metadata: options.metadata?.(serial, i) });
    if (res.status === 201) registered.push(serial);
  });
  const pis = await Promise.all(
    serials.map((serial, i) => twin.createPi(serial, types[i % types.length]!, { handlerModules: options.handlerModules, ...options.piOptions?.(serial, i) })),
  );
  const failed = new Map<string, number | null>();
  const running: SimulatedPi[] = [];
  const startedAt = Date.now();
  const codes = await mapLimit(pis, concurrency, (pi) => twin.provisionPi(pi));
  const provisionMs = Date.now() - startedAt;
  const provisioned = pis.filter((pi, i) => {
    if (codes[i] !== 0) failed.set(pi.serialNumber, codes[i]!);
    return codes[i] === 0;
  });
  await mapLimit(provisioned, concurrency, async (pi) => {
    await twin.startPi(pi);
    running.push(pi);
  });
  return { registered, running, failed, provisionMs };
}

/** Average resident memory of the running Pi processes, in MiB (Linux), if measurable. */
export function averageRssMiB(pis: readonly SimulatedPi[]): number | undefined {
  const values = pis.map((p) => p.rssKiB()).filter((v): v is number => typeof v === "number");
  if (values.length === 0) return undefined;
  return Math.round((values.reduce((a, b) => a + b, 0) / values.length / 1024) * 10) / 10;
}
