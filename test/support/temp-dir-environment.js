/**
 * The test environment of every test file: Node's, with a temporary directory of its own. Before the
 * file runs, TMPDIR (what os.tmpdir() and spawned tools such as terraform read) points at a fresh
 * directory inside this run's directory (temp-dir-global.js); after the file, with its servers and
 * processes stopped by its own afterAll hooks, that directory is removed with whatever the file or
 * the libraries it used (cdktf's Testing.app(), aws-crt, terraform) left in it.
 * Plain JavaScript: Jest loads environments without transforming them.
 */
"use strict";
const { mkdtempSync, readdirSync, rmSync } = require("node:fs");
const { join } = require("node:path");
const { TestEnvironment } = require("jest-environment-node");

class TempDirEnvironment extends TestEnvironment {
  constructor(config, context) {
    const runDir = process.env.SHF_TEST_RUN_TMPDIR;
    // Set before the base class copies process.env into the sandbox, so both see the same TMPDIR.
    const fileDir = runDir ? mkdtempSync(join(runDir, "f-")) : undefined;
    if (fileDir) process.env.TMPDIR = fileDir;
    super(config, context);
    this.fileDir = fileDir;
    this.testPath = context.testPath;
  }

  async teardown() {
    await super.teardown();
    if (!this.fileDir) return;
    // SHF_TEST_REPORT_LEFTOVERS=1 names what a file did not clean up itself (to find and fix it).
    if (process.env.SHF_TEST_REPORT_LEFTOVERS) {
      const left = readdirSync(this.fileDir);
      if (left.length > 0) process.stderr.write(`temp leftovers of ${this.testPath}: ${left.join(", ")}\n`);
    }
    rmSync(this.fileDir, { recursive: true, force: true, maxRetries: 3 });
    process.env.TMPDIR = process.env.SHF_TEST_RUN_TMPDIR;
  }
}

module.exports = TempDirEnvironment;
