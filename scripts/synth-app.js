/**
 * The app command of cdktf.json: runs main.ts as one cached JavaScript bundle with plain node, so
 * no TypeScript is transpiled at synth time. The bundle (packages stay external) is rebuilt when
 * any input esbuild's metafile names, this file or tsconfig.json changes content; the bookkeeping
 * is modules/bundling/bundle-cache.ts, reached through the bundle's entry (scripts/synth-app-entry.ts).
 * Modules that find files by `__dirname` see their source directory: the build rewrites
 * `__dirname` in repository sources to that directory, relative to the bundle.
 */
"use strict";
const { existsSync, readFileSync, renameSync, mkdirSync, writeFileSync } = require("node:fs");
const path = require("node:path");
const { installCodeCache } = require("./synth-code-cache");

const ROOT = path.resolve(__dirname, "..");
const CACHE_DIR = path.join(ROOT, "node_modules", ".cache", "synth-app");
const BUNDLE = path.join(CACHE_DIR, "app.js");
const MANIFEST = path.join(CACHE_DIR, "manifest.json");

/** Points `__dirname` in a repository source at its own directory, relative to the bundle. */
const sourceDirname = {
  name: "source-dirname",
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, (args) => {
      if (args.path.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
      const source = readFileSync(args.path, "utf8");
      if (!/\b__dirname\b/.test(source)) return undefined;
      const relative = path.relative(CACHE_DIR, path.dirname(args.path)).split(path.sep).join("/");
      return { contents: source.replace(/\b__dirname\b/g, `require("node:path").join(__dirname, ${JSON.stringify(relative)})`), loader: "ts" };
    });
  },
};

async function build() {
  const esbuild = require("esbuild");
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: [path.join(ROOT, "scripts", "synth-app-entry.ts")],
    bundle: true,
    platform: "node",
    target: `node${process.versions.node.split(".")[0]}`,
    format: "cjs",
    packages: "external",
    write: false,
    outfile: BUNDLE,
    metafile: true,
    logLevel: "warning",
    plugins: [sourceDirname],
  });
  mkdirSync(CACHE_DIR, { recursive: true });
  const tmp = `${BUNDLE}.${process.pid}.tmp`;
  writeFileSync(tmp, result.outputFiles[0].contents);
  renameSync(tmp, BUNDLE);
  const entry = require(BUNDLE);
  const inputs = Object.keys(result.metafile.inputs).map((input) => path.relative(ROOT, path.resolve(ROOT, input)));
  entry.recordInputs(MANIFEST, [...inputs, path.relative(ROOT, __filename), "tsconfig.json"]);
  return entry;
}

async function main() {
  // The provider's modules and this bundle compile from cached bytecode (scripts/synth-code-cache.js);
  // IOT_SYNTH_CODE_CACHE=off compiles from source (to measure it, or to rule it out).
  if (process.env.IOT_SYNTH_CODE_CACHE !== "off") {
    const packages = ["@cdktf", "cdktf", "constructs"].map((name) => path.join(ROOT, "node_modules", name) + path.sep);
    installCodeCache(path.join(CACHE_DIR, "v8"), (file) => file === BUNDLE || packages.some((dir) => file.startsWith(dir)));
  }
  let entry = existsSync(BUNDLE) ? require(BUNDLE) : undefined;
  if (!entry || !entry.isFresh(MANIFEST)) {
    if (entry) delete require.cache[BUNDLE];
    entry = await build();
  }
  await entry.run();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
