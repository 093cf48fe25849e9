/**
 * Tests leave nothing in the temporary directory: each jest run has its own directory in the system's,
 * each test file one inside it (test/support/temp-dir-environment.js), removed after the file; strays
 * fail the run (test/support/temp-dir-global.js). scratchDir() directories go after their file.
 */
import { spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { removeScratchDirs, scratchDir } from "./support/scratch";

/* eslint-disable @typescript-eslint/no-require-imports -- plain JavaScript (Jest loads them untransformed), so required rather than imported */
const TempDirEnvironment = require("./support/temp-dir-environment.js");
const globalHooks = require("./support/temp-dir-global.js") as { setup(): Promise<void>; teardown(): Promise<void> };
/* eslint-enable @typescript-eslint/no-require-imports */

const RUN_DIR = process.env.SHF_TEST_RUN_TMPDIR!;

test("GIVEN a test file WHEN it asks for the temporary directory THEN it gets one of its own inside this run's", () => {
  expect(RUN_DIR).toBeTruthy();
  expect(dirname(tmpdir())).toBe(RUN_DIR);
});

test("GIVEN a test file WHEN it spawns a tool THEN the tool's TMPDIR is the file's directory", () => {
  const child = spawnSync("sh", ["-c", 'printf %s "$TMPDIR"'], { encoding: "utf8" });
  expect(child.stdout).toBe(tmpdir());
});

test("GIVEN a test environment WHEN torn down THEN its directory goes with what was left in it", async () => {
  const saved = process.env.TMPDIR;
  const environment = new TempDirEnvironment(
    { globalConfig: {}, projectConfig: { testEnvironmentOptions: {}, globals: {}, setupFiles: [], testPath: "x" } },
    { console, docblockPragmas: {}, testPath: join(__dirname, "probe.test.ts") },
  );
  try {
    expect(dirname(environment.fileDir)).toBe(RUN_DIR);
    writeFileSync(join(environment.fileDir, "left-behind"), "");
    await environment.teardown();
    expect(existsSync(environment.fileDir)).toBe(false);
  } finally {
    process.env.TMPDIR = saved;
  }
});

test("fails the run (global teardown) when something is left in the run's directory outside a file's, and removes it", async () => {
  const saved = { run: process.env.SHF_TEST_RUN_TMPDIR, system: process.env.SHF_TEST_SYSTEM_TMPDIR, tmp: process.env.TMPDIR };
  try {
    await globalHooks.setup();
    const runDir = process.env.SHF_TEST_RUN_TMPDIR!;
    expect(runDir).not.toBe(saved.run);
    expect(existsSync(runDir)).toBe(true);
    writeFileSync(join(runDir, "stray"), "");
    await expect(globalHooks.teardown()).rejects.toThrow("tests left 1 item(s) in the temporary directory outside any test file's own: stray");
    expect(existsSync(runDir)).toBe(false);
  } finally {
    process.env.SHF_TEST_RUN_TMPDIR = saved.run;
    process.env.SHF_TEST_SYSTEM_TMPDIR = saved.system;
    process.env.TMPDIR = saved.tmp;
  }
});

test("GIVEN scratch directories WHEN their file ends THEN they are removed", () => {
  const first = scratchDir("scratch-a-");
  const second = scratchDir("scratch-b-");
  writeFileSync(join(first, "file"), "");
  removeScratchDirs();
  expect([existsSync(first), existsSync(second)]).toEqual([false, false]);
});
