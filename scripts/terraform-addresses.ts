/**
 * The Terraform addresses a synthesized app holds, and the `moved` blocks that carry old addresses to
 * new ones. `npx tsx scripts/terraform-addresses.ts <outdir>...` prints `<env> <stack> <address>` lines
 * of synthesized `cdktf.out` folders (named `out-<env>`), the format of
 * test/fixtures/terraform-addresses.txt.
 */
import { readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";

interface StackJson {
  readonly resource?: Record<string, Record<string, unknown>>;
  readonly moved?: readonly { readonly from: string; readonly to: string }[];
}

/** Managed resources as `type.name` (data sources are read anew on every plan: a rename loses nothing). */
export function resourceAddresses(stack: StackJson): string[] {
  return Object.entries(stack.resource ?? {}).flatMap(([type, byName]) => Object.keys(byName).map((name) => `${type}.${name}`));
}

/** `from -> to` of every `moved` block (CDKTF `moveTo` / `moveFromId`; a move never leaves its stack). */
export function movedBlocks(stack: StackJson): Map<string, string> {
  return new Map((stack.moved ?? []).map((m) => [m.from, m.to]));
}

/** The stack JSON files of one synthesized app folder, by stack id. */
export function readSynthesizedStacks(outdir: string): Map<string, StackJson> {
  const stacksDir = join(outdir, "stacks");
  return new Map(readdirSync(stacksDir).map((id) => [id, JSON.parse(readFileSync(join(stacksDir, id, "cdk.tf.json"), "utf8")) as StackJson]));
}

export interface AddressLine {
  readonly env: string;
  readonly stack: string;
  readonly address: string;
}

/** Lines of the fixture format (`#` comments and blank lines skipped). */
export function parseAddressLines(text: string): AddressLine[] {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const [env, stack, address, ...rest] = line.split(/\s+/);
      if (!address || rest.length > 0) throw new Error(`address line "${line}" must be "<env> <stack> <address>"`);
      return { env, stack, address };
    });
}

export interface RemovedAddressLine extends AddressLine {
  readonly reason: string;
}

/** Lines of the removed-on-purpose format, `<env> <stack> <address> <reason...>` (the reason is required). */
export function parseRemovedLines(text: string): RemovedAddressLine[] {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const [env, stack, address, ...reason] = line.split(/\s+/);
      if (!address || reason.length === 0) throw new Error(`removed address line "${line}" must be "<env> <stack> <address> <reason>"`);
      return { env, stack, address, reason: reason.join(" ") };
    });
}

/**
 * Lines of `expected` (one environment's) that are neither in their stack of `stacks` nor the `from`
 * of a `moved` block there whose `to` exists.
 */
export function unkeptAddresses(expected: readonly AddressLine[], stacks: ReadonlyMap<string, StackJson>): AddressLine[] {
  return expected.filter(({ stack, address }) => {
    const json = stacks.get(stack);
    if (!json) return true;
    const present = new Set(resourceAddresses(json));
    const movedTo = movedBlocks(json).get(address);
    return !present.has(address) && !(movedTo !== undefined && present.has(movedTo));
  });
}

if (require.main === module) {
  for (const outdir of process.argv.slice(2)) {
    const env = basename(outdir).replace(/^out-/, "");
    for (const [stack, json] of [...readSynthesizedStacks(outdir)].sort(([a], [b]) => a.localeCompare(b))) {
      for (const address of resourceAddresses(json).sort()) console.log(`${env} ${stack} ${address}`);
    }
  }
}
