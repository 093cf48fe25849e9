#!/usr/bin/env node
/**
 * Pre-flight of `npm test` (and of `.ci/run`): are the system tools in scripts/prerequisites.json
 * installed? Plain Node.js with no dependencies, so it runs before `npm ci` and in well under a second.
 *
 *   node scripts/preflight.js                  each missing tool on one line with its install command; exit 1
 *   node scripts/preflight.js --missing-debian-packages
 *                                              the Debian-archive packages of the missing tools, one a line
 *                                              (what .ci/run installs); always exit 0
 */
"use strict";
const { accessSync, constants } = require("node:fs");
const { delimiter, join } = require("node:path");

const LIST = join(__dirname, "prerequisites.json");

function loadPrerequisites(file = LIST) {
  return require(file).prerequisites;
}

function isExecutable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether one prerequisite is found where the tests will look for it: its env variable when set (then
 * only there), else its fixed paths, and PATH unless `searchPath` is false.
 */
function isInstalled(prerequisite, env = process.env, executable = isExecutable) {
  if (prerequisite.env && env[prerequisite.env]) return executable(env[prerequisite.env]);
  const dirs = prerequisite.searchPath === false ? [] : (env.PATH ?? "").split(delimiter).filter(Boolean);
  return prerequisite.commands.every(
    (command) =>
      dirs.some((dir) => executable(join(dir, command))) || (prerequisite.paths ?? []).some((path) => path.endsWith(`/${command}`) && executable(path)),
  );
}

function missingPrerequisites(list = loadPrerequisites(), env = process.env, executable = isExecutable) {
  return list.filter((prerequisite) => !isInstalled(prerequisite, env, executable));
}

/** One line per missing tool: what it is, what needs it, and the command that installs it. */
function describeMissing(prerequisite) {
  const what = prerequisite.commands.join(", ");
  return `missing ${prerequisite.name} (${what}; needed by ${prerequisite.neededBy.join(", ")}): ${prerequisite.install}`;
}

function main(argv) {
  const missing = missingPrerequisites();
  if (argv.includes("--missing-debian-packages")) {
    for (const prerequisite of missing.filter((p) => p.source === "debian")) console.log(prerequisite.package);
    return 0;
  }
  if (missing.length === 0) return 0;
  for (const prerequisite of missing) console.error(describeMissing(prerequisite));
  console.error(`preflight: ${missing.length} system prerequisite(s) missing (the list: scripts/prerequisites.json); install them, then run npm test again`);
  return 1;
}

module.exports = { loadPrerequisites, isInstalled, missingPrerequisites, describeMissing };

if (require.main === module) process.exitCode = main(process.argv.slice(2));
