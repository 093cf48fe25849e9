/**
 * Temporary directories for tests, removed after the test file that made them (test/support/
 * scratch-cleanup.ts registers the afterAll). Helpers that hand a directory to their caller use this,
 * so no caller has to remember to remove it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const created: string[] = [];

/** A new directory `<tmpdir>/<prefix>XXXXXX`, removed after this test file. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  created.push(dir);
  return dir;
}

/** Removes every directory scratchDir made so far. */
export function removeScratchDirs(): void {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}
