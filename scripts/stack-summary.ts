import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface StackSummary {
  readonly stack: string;
  readonly resourceCount: number;
  readonly resourcesByType: Record<string, number>;
  readonly outputs: string[];
}

interface Manifest {
  readonly stacks: Record<string, { readonly name: string; readonly synthesizedStackPath: string; readonly dependencies: string[] }>;
}

/** Stack ids in the order the app defines them (the deployment order), read from the synthesized manifest. */
export function stackOrder(outdir: string): string[] {
  const manifest = JSON.parse(readFileSync(join(outdir, "manifest.json"), "utf8")) as Manifest;
  return Object.keys(manifest.stacks);
}

export function summarizeSynthesized(outdir: string): StackSummary[] {
  const manifest = JSON.parse(readFileSync(join(outdir, "manifest.json"), "utf8")) as Manifest;
  return Object.values(manifest.stacks).map((entry) => {
    const tf = JSON.parse(readFileSync(join(outdir, entry.synthesizedStackPath), "utf8")) as {
      resource?: Record<string, Record<string, unknown>>;
      output?: Record<string, unknown>;
    };
    const resourcesByType: Record<string, number> = {};
    let resourceCount = 0;
    for (const [type, instances] of Object.entries(tf.resource ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
      resourcesByType[type] = Object.keys(instances).length;
      resourceCount += resourcesByType[type];
    }
    return { stack: entry.name, resourceCount, resourcesByType, outputs: Object.keys(tf.output ?? {}) };
  });
}
