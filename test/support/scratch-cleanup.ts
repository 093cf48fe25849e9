import { removeScratchDirs } from "./scratch";

// After each test file: its scratch directories go (test/support/scratch.ts).
afterAll(removeScratchDirs);
