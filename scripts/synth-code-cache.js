/**
 * A V8 code cache for the app command (scripts/synth-app.js): the app bundle and the provider's
 * modules it requires are compiled from cached bytecode instead of from source (Node 20 has no
 * module.enableCompileCache). Each entry is keyed by the file's path, size and mtime and V8's own
 * check (`cachedDataRejected`: another Node or V8 version); a rejected or missing entry is compiled
 * from source and written again. The module wrapper and `require` are Node's own (Module.wrap,
 * module.require), as v8-compile-cache does.
 */
"use strict";
const { createHash } = require("node:crypto");
const { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } = require("node:fs");
const Module = require("node:module");
const path = require("node:path");
const vm = require("node:vm");

const mainModule = require.main;

/** Installs the cache for `.js` files whose path passes `eligible`; entries live in `dir`. */
function installCodeCache(dir, eligible) {
  const compile = Module.prototype._compile;
  const pending = [];
  process.once("exit", () => {
    for (const [entry, script] of pending) writeEntry(entry, script.createCachedData());
  });
  Module.prototype._compile = function compileWithCache(content, filename) {
    if (!eligible(filename)) return compile.call(this, content, filename);
    const stats = statSync(filename);
    const key = createHash("sha256").update(`${process.version}\0${filename}\0${stats.size}\0${stats.mtimeMs}`).digest("hex").slice(0, 32);
    const entry = path.join(dir, `${key}.bin`);
    let cachedData;
    try {
      cachedData = readFileSync(entry);
    } catch {
      cachedData = undefined;
    }
    const script = new vm.Script(Module.wrap(content), { filename, cachedData });
    if (cachedData === undefined || script.cachedDataRejected) {
      // Written after this module has run, so the bytecode holds the functions it compiled lazily too.
      pending.push([entry, script]);
    }
    const wrapper = script.runInThisContext({ displayErrors: true });
    return wrapper.call(this.exports, this.exports, requireFor(this), this, filename, path.dirname(filename));
  };
}

/** The `require` a module's code is given, as Node builds it. */
function requireFor(mod) {
  const require = (id) => mod.require(id);
  require.resolve = (request, options) => Module._resolveFilename(request, mod, false, options);
  require.resolve.paths = (request) => Module._resolveLookupPaths(request, mod);
  require.main = mainModule;
  require.extensions = Module._extensions;
  require.cache = Module._cache;
  return require;
}

function writeEntry(entry, data) {
  try {
    mkdirSync(path.dirname(entry), { recursive: true });
    const tmp = `${entry}.${process.pid}.tmp`;
    writeFileSync(tmp, data);
    renameSync(tmp, entry);
  } catch {
    // a cache that cannot be written only costs the next run its compile time
  }
}

module.exports = { installCodeCache };
