/**
 * The entry of the cached app bundle that `cdktf.json` runs (scripts/synth-app.js builds it with
 * esbuild). Only the bundle cache's bookkeeping loads with the bundle: main.ts and everything it
 * imports are imported lazily, after scripts/synth-app.js has asked `isFresh()`.
 */
import { freshManifest, hashInputs, writeAtomically } from "../modules/bundling/bundle-cache";

/** True when every input the bundle was built from (esbuild's metafile) still has the content it had. */
export function isFresh(manifestPath: string): boolean {
  return freshManifest(manifestPath) !== undefined;
}

/** Records the content hash of every input (paths relative to the repository root). */
export function recordInputs(manifestPath: string, inputs: readonly string[]): void {
  writeAtomically(manifestPath, Buffer.from(JSON.stringify(hashInputs(inputs), null, 2)));
}

export async function run(): Promise<void> {
  const { synthesizeApp } = await import("../main");
  synthesizeApp();
}
