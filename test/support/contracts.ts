/** Every function's contract, found from the folders of `functions/` (so a new function without one fails the tests). */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { FunctionContract } from "../../functions/shared/contract";

export const FUNCTIONS_DIR = join(__dirname, "..", "..", "functions");

/** Handler folders: every folder of functions/ with an index.ts. */
export function handlerFolders(): string[] {
  return readdirSync(FUNCTIONS_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(FUNCTIONS_DIR, d.name, "index.ts")))
    .map((d) => d.name)
    .sort();
}

/** The contract exported by `functions/<name>/contract.ts` (the export with a handler and an environment builder). */
export function contractOf(name: string): FunctionContract {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- each function's contract, by path
  const moduleExports = require(join(FUNCTIONS_DIR, name, "contract.ts")) as Record<string, unknown>;
  const contracts = Object.values(moduleExports).filter(
    (v): v is FunctionContract =>
      typeof v === "object" && v !== null && typeof (v as FunctionContract).handler === "string" && typeof (v as FunctionContract).environment === "function",
  );
  if (contracts.length !== 1) throw new Error(`functions/${name}/contract.ts must export exactly one contract, found ${contracts.length}`);
  return contracts[0];
}

/** Every contract, by handler folder. */
export function allContracts(): Record<string, FunctionContract> {
  return Object.fromEntries(handlerFolders().map((name) => [name, contractOf(name)]));
}
