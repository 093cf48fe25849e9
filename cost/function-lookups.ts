/**
 * Which synthesized function a rule action, a schedule or a workload figure means, and its profile:
 * functions are found by their name's suffix (`<prefix>-<handler>`), the handler folder's name.
 */
import type { Inventory } from "./inventory";
import { FUNCTION_PROFILES, type FunctionProfile } from "./workload";

export function functionOf(inventory: Inventory, arnOrName: string): string {
  const name = arnOrName.split(":").pop()!;
  const fn = inventory.functions.find((f) => f.name === name);
  if (fn) return fn.name;
  const byRef = inventory.functions.find((f) => arnOrName.includes(suffixOf(f.name)));
  if (!byRef) throw new Error(`topic rule action invokes ${arnOrName}, which is no synthesized function`);
  return byRef.name;
}

export function functionForSchedule(inventory: Inventory, scheduleName: string): string {
  const target = scheduleName.includes("health") ? "health-check" : scheduleName.endsWith("-telemetry-rollup") ? "telemetry-rollup" : "offline-detector";
  const name = bySuffix(inventory, target);
  if (!name) throw new Error(`schedule ${scheduleName} has no function ${target}`);
  return name;
}

function suffixOf(functionName: string): string {
  return Object.keys(FUNCTION_PROFILES).find((s) => functionName.endsWith(`-${s}`)) ?? functionName;
}

export function bySuffix(inventory: Inventory, suffix: string): string | undefined {
  return inventory.functions.find((f) => f.name.endsWith(`-${suffix}`))?.name;
}

export function invokeBySuffix(inventory: Inventory, suffix: string, count: number, invoke: (fn: string, count: number) => void): void {
  const name = bySuffix(inventory, suffix);
  if (name) invoke(name, count);
}

export function profileOf(profiles: Readonly<Record<string, FunctionProfile>>, functionName: string): FunctionProfile {
  const profile = profiles[suffixOf(functionName)];
  if (!profile) throw new Error(`function ${functionName} has no profile in cost/workload.ts FUNCTION_PROFILES: add its duration and DynamoDB work`);
  return profile;
}
