/**
 * The entry of the cached app bundle that `cdktf.json` runs (scripts/synth-app.js builds it with
 * esbuild). Only the bundle cache's bookkeeping loads with the bundle: main.ts and everything it
 * imports are imported lazily, after scripts/synth-app.js has asked `isFresh()`.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { REPO_ROOT, inputsUnchanged, readManifest, sha256Hex, writeAtomically, type CacheManifest } from "../modules/bundling/bundle-cache";

/** True when every input the bundle was built from (esbuild's metafile) still has the content it had. */
export function isFresh(manifestPath: string): boolean {
  const manifest = readManifest(manifestPath);
  return manifest !== undefined && inputsUnchanged(manifest.inputs);
}

/** Records the content hash of every input (paths relative to the repository root). */
export function recordInputs(manifestPath: string, inputs: readonly string[]): void {
  const hashes: Record<string, string> = {};
  for (const input of [...inputs].sort()) hashes[input] = sha256Hex(readFileSync(resolve(REPO_ROOT, input)));
  const manifest: Pick<CacheManifest, "inputs"> = { inputs: hashes };
  writeAtomically(manifestPath, Buffer.from(JSON.stringify(manifest, null, 2)));
}

export async function run(): Promise<void> {
  const { synthesizeApp } = await import("../main");
  synthesizeApp();
}
