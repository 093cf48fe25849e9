/**
 * scripts/synth-code-cache.js: modules compiled from V8's cached bytecode behave as Node loads them,
 * and a missing or unusable cache entry only costs a compile from source.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { scratchDir } from "../support/scratch";

const CODE_CACHE = join(__dirname, "..", "..", "scripts", "synth-code-cache.js");

/** Loads `lib/main.js` of `dir` in a fresh Node process with the cache installed for `lib/`; returns what it printed. */
function load(dir: string): string {
  const script = `require(${JSON.stringify(CODE_CACHE)}).installCodeCache(${JSON.stringify(join(dir, "cache"))}, (f) => f.startsWith(${JSON.stringify(join(dir, "lib"))}));
    const m = require(${JSON.stringify(join(dir, "lib", "main.js"))});
    process.stdout.write(JSON.stringify(m.describe()));`;
  return execFileSync(process.execPath, ["-e", script], { encoding: "utf8" });
}

function fixture(): string {
  const dir = scratchDir("code-cache-");
  mkdirSync(join(dir, "lib"));
  writeFileSync(join(dir, "lib", "helper.js"), "exports.twice = (n) => n * 2;\n");
  writeFileSync(
    join(dir, "lib", "main.js"),
    [
      'const { twice } = require("./helper");',
      "const thisIsExports = this === module.exports;",
      "module.exports = { describe: () => ({ twice: twice(21), dirname: __dirname, filename: __filename,",
      '  resolved: require.resolve("./helper"), thisIsExports, cached: Object.keys(require.cache).filter((k) => k.includes("lib")).length }) };',
    ].join("\n"),
  );
  return dir;
}

test("a module compiled from the cache sees Node's module scope: require, __dirname, __filename, this", () => {
  // GIVEN two modules, loaded once to fill the cache
  const dir = fixture();
  const first = JSON.parse(load(dir));
  expect(readdirSync(join(dir, "cache")).filter((f) => f.endsWith(".bin"))).toHaveLength(2);
  // WHEN they are loaded again, from the cache
  const second = JSON.parse(load(dir));
  // THEN they behave exactly as compiled from source
  expect(second).toEqual(first);
  expect(second).toEqual({
    twice: 42,
    dirname: join(dir, "lib"),
    filename: join(dir, "lib", "main.js"),
    resolved: join(dir, "lib", "helper.js"),
    thisIsExports: true,
    cached: 2,
  });
});

test("an unusable cache entry is compiled from source and written again", () => {
  // GIVEN a filled cache whose entries are then corrupted
  const dir = fixture();
  load(dir);
  const entries = readdirSync(join(dir, "cache")).filter((f) => f.endsWith(".bin"));
  for (const entry of entries) writeFileSync(join(dir, "cache", entry), "not bytecode");
  // WHEN the modules are loaded
  const loaded = JSON.parse(load(dir));
  // THEN they still work, and the entries hold bytecode again
  expect(loaded.twice).toBe(42);
  for (const entry of entries) expect(readFileSync(join(dir, "cache", entry)).length).toBeGreaterThan("not bytecode".length);
});

test("fails with the module's own error when its code throws", () => {
  const dir = fixture();
  writeFileSync(join(dir, "lib", "main.js"), 'throw new Error("broken module");\n');
  expect(() => load(dir)).toThrow(/broken module/);
});
