/**
 * esbuild with one plugin, run synchronously: it lets the bundler drop the AWS SDK operation
 * schemas a handler never uses.
 *
 * Why: an SDK client's `dist-es/schemas/schemas_0.js` describes every operation as an array such as
 * `[9, n0, _UC, { [_h]: ["PUT", "/certificates/{certificateId}", 200] }, () => Req$, () => Res$]`.
 * The computed key `[_h]` may run code (a key's toString) as far as esbuild knows, so every one of
 * these statements is kept, with every request and response schema it points to: 109 KB of the
 * IoT client's 1138 schemas in a handler that sends 5 commands. The plugin writes each such key as
 * the string literal its `const` holds (`{ "http": [...] }`, the same object), so esbuild sees the
 * statements as pure and tree-shakes them like any unused export.
 *
 * esbuild's buildSync takes no plugins and the bundling is synchronous (constructs bundle in their
 * constructors), so the build runs in a child Node process, on a cache miss only.
 */
import { execFileSync } from "node:child_process";
import type { BuildOptions, Metafile } from "esbuild";

/** Files whose computed keys are inlined: the schema modules of the SDK's clients (ESM builds). */
const SCHEMA_FILE = /[\\/]@aws-sdk[\\/]client-[^\\/]+[\\/]dist-es[\\/]schemas[\\/][^\\/]+\.js$/;

/**
 * Every computed key `[_x]:` whose `_x` is a top-level `const _x = "...";` of the same file, written
 * as that string literal; other computed keys stay. Plain JavaScript text, because the child runs it.
 */
const INLINE_SCHEMA_KEYS_JS = String.raw`(source) => {
  const constants = new Map();
  for (const m of source.matchAll(/^const (_\w+) = ("[^"\\\n]*");$/gm)) constants.set(m[1], m[2]);
  return source.replace(/\[(_\w+)\]:/g, (whole, name) => (constants.has(name) ? constants.get(name) + ":" : whole));
}`;

/** The transform the child applies to each schema file: the same text, so the tests check what runs. */
export const inlineSchemaKeys = new Function(`return ${INLINE_SCHEMA_KEYS_JS}`)() as (source: string) => string;

/** The child's program: reads {esbuildPath, options, filter, inline} on stdin, writes the outputs and the metafile as JSON. */
const CHILD = `
let input = "";
process.stdin.on("data", (d) => (input += d)).on("end", async () => {
  const { esbuildPath, options, filter, inline } = JSON.parse(input);
  const inlineSchemaKeys = new Function("return " + inline)();
  const pattern = new RegExp(filter);
  const plugin = { name: "inline-schema-keys", setup(build) {
    build.onLoad({ filter: pattern }, async (args) => ({ contents: inlineSchemaKeys(await require("node:fs/promises").readFile(args.path, "utf8")), loader: "js" }));
  } };
  let result;
  try {
    result = await require(esbuildPath).build({ ...options, plugins: [plugin] });
  } catch (error) {
    process.stderr.write(String(error && error.message ? error.message : error));
    process.exit(1);
  }
  const outputFiles = result.outputFiles.map((f) => ({ path: f.path, contents: Buffer.from(f.contents).toString("base64") }));
  process.stdout.write(JSON.stringify({ outputFiles, metafile: result.metafile }));
});
`;

export interface LeanBuildResult {
  readonly outputFiles: readonly { path: string; contents: Buffer }[];
  readonly metafile: Metafile;
}

/** `esbuild.build(options)` with the SDK schemas' computed keys inlined; `options` must be JSON (no plugins, write: false). */
export function buildWithLeanSchemas(options: BuildOptions): LeanBuildResult {
  const input = JSON.stringify({
    esbuildPath: require.resolve("esbuild"),
    options: { ...options, write: false, metafile: true },
    filter: SCHEMA_FILE.source,
    inline: INLINE_SCHEMA_KEYS_JS,
  });
  let stdout: string;
  try {
    stdout = execFileSync(process.execPath, ["-e", CHILD], { input, encoding: "utf8", maxBuffer: 256 * 1024 * 1024, stdio: ["pipe", "pipe", "pipe"] });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`esbuild failed for ${String(options.entryPoints)}: ${stderr || (error as Error).message}`, { cause: error });
  }
  const parsed = JSON.parse(stdout) as { outputFiles: { path: string; contents: string }[]; metafile: Metafile };
  return { outputFiles: parsed.outputFiles.map((f) => ({ path: f.path, contents: Buffer.from(f.contents, "base64") })), metafile: parsed.metafile };
}
