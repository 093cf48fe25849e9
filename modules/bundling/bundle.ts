import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
import { version as esbuildVersion } from "esbuild";
import {
  REPO_ROOT,
  hashInputs,
  freshManifest,
  sha256Hex,
  statsOf,
  statsUnchanged,
  writeAtomically,
  type CacheManifest,
  type MemoryEntry,
} from "./bundle-cache";
import { deterministicZip } from "./deterministic-zip";
import { buildWithLeanSchemas } from "./lean-schemas-build";

/** Absolute path of a handler entry, `functions/<name>/index.ts`. */
export function handlerEntry(name: string): string {
  return join(REPO_ROOT, "functions", name, "index.ts");
}

export interface BundleOptions {
  /** Ship `index.js.map` in the zip (and enable source maps in the runtime). @default false */
  readonly sourceMap?: boolean;
  /** Where zips and cache manifests go. @default node_modules/.cache/bundled-function (or IOT_BUNDLE_CACHE_DIR) */
  readonly cacheDir?: string;
}

export interface BundleResult {
  /** Absolute path of the deterministic zip (`index.js`, plus `index.js.map` when asked). */
  readonly zipPath: string;
  /** Base64 SHA-256 of the bundled code (and map): the function's `source_code_hash`. */
  readonly codeHash: string;
  readonly jsBytes: number;
  readonly zipBytes: number;
  /** Source files that went into the bundle, relative to the repository root. */
  readonly inputs: readonly string[];
  /** Where the result came from: this process's memory, the on-disk cache, or a fresh esbuild run. */
  readonly source: "memory" | "disk" | "esbuild";
  readonly elapsedMs: number;
}

const memoryCache = new Map<string, MemoryEntry>();

/** Empties this process's bundle cache (the on-disk cache stays): for tests and benchmarks. */
export function forgetBundlesInMemory(): void {
  memoryCache.clear();
}

/**
 * Bundles one handler with esbuild into one minified CommonJS file for Node.js 22 (AWS SDK clients
 * bundled, not external, so their versions are the ones pinned in package.json) and zips it
 * deterministically: same code, byte-identical zip, same hash.
 *
 * Cached twice, so synthesizing every stack stays fast: in memory for this process (checked by file
 * size and mtime), and on disk across processes (checked by the content hash of every input file).
 */
export function bundleHandler(entry: string, options: BundleOptions = {}): BundleResult {
  const started = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - started) / 1e6;
  const entryPath = isAbsolute(entry) ? entry : resolve(REPO_ROOT, entry);
  if (!existsSync(entryPath)) {
    throw new Error(`Lambda handler entry "${relative(REPO_ROOT, entryPath)}" does not exist: create it (exporting \`handler\`) or fix the path`);
  }
  const cacheDir = options.cacheDir ?? process.env.IOT_BUNDLE_CACHE_DIR ?? join(REPO_ROOT, "node_modules", ".cache", "bundled-function");
  const sourceMap = options.sourceMap ?? false;
  const key = sha256Hex(JSON.stringify({ entry: relative(REPO_ROOT, entryPath), sourceMap, esbuildVersion, format: BUNDLE_FORMAT_VERSION }));
  const zipName = `${basename(dirname(entryPath))}.zip`;

  const remembered = memoryCache.get(key);
  if (remembered && remembered.result.zipPath.startsWith(cacheDir) && statsUnchanged(remembered.stats) && existsSync(remembered.result.zipPath)) {
    return { ...remembered.result, source: "memory", elapsedMs: elapsed() };
  }

  const manifestPath = join(cacheDir, "manifests", `${key}.json`);
  const fromDisk = freshManifest<CacheManifest>(manifestPath);
  if (fromDisk && existsSync(join(cacheDir, fromDisk.zipFile))) {
    const result: BundleResult = {
      zipPath: join(cacheDir, fromDisk.zipFile),
      codeHash: fromDisk.codeHash,
      jsBytes: fromDisk.jsBytes,
      zipBytes: fromDisk.zipBytes,
      inputs: Object.keys(fromDisk.inputs),
      source: "disk",
      elapsedMs: elapsed(),
    };
    memoryCache.set(key, { result, stats: statsOf(result.inputs) });
    return result;
  }

  // The SDK operation schemas a handler never sends are left out (./lean-schemas-build.ts).
  const built = buildWithLeanSchemas({
    entryPoints: [entryPath],
    absWorkingDir: REPO_ROOT,
    outfile: join(REPO_ROOT, "index.js"), // never written (write: false); names the output and its map
    bundle: true,
    write: false,
    metafile: true,
    platform: "node",
    target: "node22",
    format: "cjs",
    minify: true,
    // ESM builds of the AWS SDK tree-shake far better than their CommonJS builds.
    mainFields: ["module", "main"],
    external: [],
    // Functions take credentials from the environment only (functions/shared/aws.ts): leave the SDK's default chain out.
    alias: { "@aws-sdk/credential-provider-node": resolve(REPO_ROOT, "functions", "shared", "no-credential-chain.ts") },
    sourcemap: sourceMap ? "external" : false,
    sourcesContent: false,
    legalComments: "none",
    charset: "utf8",
    logLevel: "silent",
  });
  const js = built.outputFiles.find((f) => f.path.endsWith(".js"));
  if (!js) throw new Error(`esbuild produced no JavaScript for ${relative(REPO_ROOT, entryPath)}`);
  const map = built.outputFiles.find((f) => f.path.endsWith(".js.map"));
  const files = [{ name: "index.js", data: Buffer.from(js.contents) }];
  if (map) files.push({ name: "index.js.map", data: Buffer.from(map.contents) });

  const codeDigest = createHash("sha256");
  for (const f of files) codeDigest.update(f.name).update("\0").update(f.data);
  const codeHash = codeDigest.digest("base64");
  const zip = deterministicZip(files);
  const zipFile = join("zips", sha256Hex(codeHash).slice(0, 24), zipName);
  writeAtomically(join(cacheDir, zipFile), zip);

  const { inputs, stats } = hashInputs(Object.keys(built.metafile.inputs).map((input) => relative(REPO_ROOT, resolve(REPO_ROOT, input))));
  const manifest: CacheManifest = { codeHash, zipFile, jsBytes: js.contents.length, zipBytes: zip.length, inputs, stats };
  writeAtomically(manifestPath, Buffer.from(JSON.stringify(manifest)));

  const result: BundleResult = {
    zipPath: join(cacheDir, zipFile),
    codeHash,
    jsBytes: manifest.jsBytes,
    zipBytes: manifest.zipBytes,
    inputs: Object.keys(inputs),
    source: "esbuild",
    elapsedMs: elapsed(),
  };
  memoryCache.set(key, { result, stats: statsOf(result.inputs) });
  return result;
}

/** Bump when the bundle options or the zip layout change, so old cache entries are not reused. */
const BUNDLE_FORMAT_VERSION = 3;
