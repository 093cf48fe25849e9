/**
 * `npm run bench:bundles`: bundles every Lambda handler (`functions/<name>/index.ts`) the way
 * BundledFunction does, into an empty cache so esbuild really runs, and prints each zip's size
 * (target: at most 100 KB), the bundle time, and the time of a cached bundle (what synth pays).
 * Prints figures only; it fails only when a handler does not bundle.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { bundleHandler, forgetBundlesInMemory, handlerEntry } from "../modules/bundling/bundle";

const TARGET_ZIP_BYTES = 100 * 1024;
const functionsDir = resolve(__dirname, "..", "functions");
const handlers = readdirSync(functionsDir, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(functionsDir, d.name, "index.ts")))
  .map((d) => d.name)
  .sort();

const cacheDir = mkdtempSync(join(tmpdir(), "bench-bundles-"));
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
const rows: string[][] = [["handler", "zip", "js (minified)", "inputs", "esbuild", "cached", ""]];
let totalMs = 0;
try {
  for (const name of handlers) {
    const fresh = bundleHandler(handlerEntry(name), { cacheDir });
    forgetBundlesInMemory();
    const cached = bundleHandler(handlerEntry(name), { cacheDir });
    totalMs += fresh.elapsedMs;
    rows.push([
      name,
      kb(fresh.zipBytes),
      kb(fresh.jsBytes),
      String(fresh.inputs.length),
      `${fresh.elapsedMs.toFixed(0)} ms`,
      `${cached.elapsedMs.toFixed(0)} ms`,
      fresh.zipBytes > TARGET_ZIP_BYTES ? `over ${kb(TARGET_ZIP_BYTES)}` : "ok",
    ]);
  }
} finally {
  rmSync(cacheDir, { recursive: true, force: true });
}

const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const row of rows) console.log(row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  "));
console.log(`\n${handlers.length} handlers bundled in ${(totalMs / 1000).toFixed(2)} s (esbuild, node22, arm64 runtime, minified CJS, AWS SDK bundled)`);
