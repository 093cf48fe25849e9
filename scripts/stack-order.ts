/**
 * The deployment order, read from the app itself: the stacks in the order main.ts defines them.
 * `npx tsx scripts/stack-order.ts` prints it as a JSON array; the workflows use that output, so
 * there is no second, hand-kept list of stacks anywhere.
 */
import { App, TerraformStack } from "cdktf";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../config";
import { defineStacks } from "../main";

/** Stack ids in definition order. */
export function deploymentOrder(app: App): string[] {
  return app.node.children.filter((child): child is TerraformStack => TerraformStack.isStack(child)).map((stack) => stack.node.id);
}

/** Builds the app offline (without synthesizing it) in a temporary outdir and hands it to `use`. */
export function withApp<T>(envName: string | undefined, use: (app: App) => T): T {
  const outdir = mkdtempSync(join(tmpdir(), "shf-order-"));
  try {
    const app = new App({ outdir });
    defineStacks(app, { config: loadConfig(envName), offline: true });
    return use(app);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** Builds the app (without synthesizing it) and returns its deployment order. */
export function appDeploymentOrder(envName?: string): string[] {
  return withApp(envName, deploymentOrder);
}

/** Every stack's dependencies (from the synthesized manifest) must come before it in `order`. */
export function orderViolations(order: readonly string[], dependencies: Readonly<Record<string, readonly string[]>>): string[] {
  const problems: string[] = [];
  order.forEach((stack, index) => {
    for (const dep of dependencies[stack] ?? []) {
      const at = order.indexOf(dep);
      if (at < 0 || at > index) problems.push(`${stack} depends on ${dep}, which is deployed ${at < 0 ? "nowhere" : "after it"}`);
    }
  });
  return problems;
}

if (require.main === module) {
  process.stdout.write(`${JSON.stringify(appDeploymentOrder())}\n`);
}
