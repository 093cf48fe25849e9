/**
 * The bundle caches' bookkeeping: manifests on disk (content hashes of every input) and cheap
 * size:mtime checks for the in-memory cache.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { BundleResult } from "./bundle";

/** Repository root: handlers live in `<root>/functions/<name>/index.ts`. */
export const REPO_ROOT = resolve(__dirname, "..", "..");

export interface CacheManifest {
  readonly codeHash: string;
  readonly zipFile: string;
  readonly jsBytes: number;
  readonly zipBytes: number;
  /** input path (relative to the repo root) -> sha256 hex of its content */
  readonly inputs: Readonly<Record<string, string>>;
  /** input path -> "size:mtimeMs" taken just before hashing: when every one still matches, nothing is hashed again. */
  readonly stats?: Readonly<Record<string, string>>;
}

export interface MemoryEntry {
  readonly result: BundleResult;
  /** input path -> "size:mtimeMs" when the entry was cached: a cheap check that nothing changed. */
  readonly stats: ReadonlyMap<string, string>;
}

export function sha256Hex(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

export function readManifest(path: string): CacheManifest | undefined {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as CacheManifest;
  } catch {
    return undefined;
  }
}

export function inputsUnchanged(inputs: Readonly<Record<string, string>>): boolean {
  for (const [path, hash] of Object.entries(inputs)) {
    try {
      if (sha256Hex(readFileSync(resolve(REPO_ROOT, path))) !== hash) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/**
 * The manifest at `path` when its inputs still have the content they were hashed with, else undefined.
 * Trusts the recorded size:mtime of every input when all still match (the check the in-memory cache
 * makes); otherwise hashes them, and when the content is unchanged records the new stats.
 */
export function freshManifest<T extends Pick<CacheManifest, "inputs" | "stats">>(path: string): T | undefined {
  const manifest = readManifest(path) as T | undefined;
  if (!manifest) return undefined;
  const { inputs, stats } = manifest;
  if (stats && Object.keys(inputs).every((input) => input in stats) && statsUnchanged(new Map(Object.entries(stats)))) return manifest;
  const recorded = Object.keys(inputs);
  const freshStats = Object.fromEntries(statsOf(recorded));
  if (!inputsUnchanged(inputs)) return undefined;
  const refreshed = { ...manifest, stats: freshStats };
  writeAtomically(path, Buffer.from(JSON.stringify(refreshed)));
  return refreshed;
}

/** Content hashes of `inputs` (paths relative to the repository root; missing files left out), with their stats taken first. */
export function hashInputs(inputs: readonly string[]): Pick<CacheManifest, "inputs" | "stats"> {
  const present = inputs.filter((input) => existsSync(resolve(REPO_ROOT, input))).sort();
  const stats = Object.fromEntries(statsOf(present));
  const hashes: Record<string, string> = {};
  for (const input of present) hashes[input] = sha256Hex(readFileSync(resolve(REPO_ROOT, input)));
  return { inputs: hashes, stats };
}

export function statsOf(inputs: readonly string[]): Map<string, string> {
  const stats = new Map<string, string>();
  for (const input of inputs) stats.set(input, statKey(input));
  return stats;
}

export function statsUnchanged(stats: ReadonlyMap<string, string>): boolean {
  for (const [input, recorded] of stats) if (statKey(input) !== recorded) return false;
  return true;
}

/**
 * size:mtime of installed package files, taken once per process: every handler's bundle holds the
 * same ~1100 SDK files, so a synth checking 11 cached bundles made ~12,000 stat calls for ~1,300
 * files (half a second of a 3 s synth). Packages do not change under a running synth or test run;
 * repository sources, which tests do edit, are stat'ed every time.
 */
const packageFileStats = new Map<string, string>();

function statKey(input: string): string {
  const installed = input.startsWith("node_modules/");
  const known = installed ? packageFileStats.get(input) : undefined;
  if (known !== undefined) return known;
  let key = "missing";
  try {
    const s = statSync(resolve(REPO_ROOT, input));
    key = `${s.size}:${s.mtimeMs}`;
  } catch {
    return key;
  }
  if (installed) packageFileStats.set(input, key);
  return key;
}

/** Writes through a temporary file and a rename, so parallel test workers never read half a file. */
export function writeAtomically(path: string, data: Buffer): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}
