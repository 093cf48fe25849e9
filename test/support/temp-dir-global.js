/**
 * Jest globalSetup / globalTeardown: one temporary directory per test run, inside the system's, so
 * that runs started at the same time (parallel workers, other worktrees) never see each other's files.
 * Workers inherit TMPDIR and SHF_TEST_RUN_TMPDIR; each test file gets a directory inside it
 * (temp-dir-environment.js). At the end the run directory must be empty of everything but those
 * (already removed) file directories: anything else was written outside a test file's lifetime, is
 * named, and fails the run. The run directory is removed either way.
 * Plain JavaScript: Jest loads these without transforming them.
 */
"use strict";
const { mkdtempSync, readdirSync, rmSync } = require("node:fs");
const { tmpdir } = require("node:os");
const { join } = require("node:path");

async function setup() {
  const runDir = mkdtempSync(join(tmpdir(), "shf-jest-"));
  process.env.SHF_TEST_RUN_TMPDIR = runDir;
  process.env.SHF_TEST_SYSTEM_TMPDIR = tmpdir();
  process.env.TMPDIR = runDir;
}

async function teardown() {
  const runDir = process.env.SHF_TEST_RUN_TMPDIR;
  if (!runDir) return;
  const left = readdirSync(runDir);
  rmSync(runDir, { recursive: true, force: true, maxRetries: 3 });
  process.env.TMPDIR = process.env.SHF_TEST_SYSTEM_TMPDIR;
  if (left.length > 0) {
    throw new Error(`tests left ${left.length} item(s) in the temporary directory outside any test file's own: ${left.join(", ")}`);
  }
}

module.exports = { setup, teardown };
