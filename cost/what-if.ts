/**
 * Design changes priced by the same model on the same synthesized stacks: each step rewrites the
 * inventory (or a function's per-invocation work) the way the change would rewrite the stacks, so
 * README "Cost" can show before and after from one source. Steps are cumulative.
 */
import { Inventory, TopicRuleInfo } from "./inventory";
import { costOf, ModelOptions, topicMatches } from "./model";
import { FleetParameters } from "./workload";

export interface WhatIfStep {
  readonly change: string;
  readonly usdPerMonth: Record<number, number>;
}

const READING_TOPIC = "devices/thing-0001/telemetry";

function telemetryRules(inventory: Inventory): { store: TopicRuleInfo; others: TopicRuleInfo[] } {
  const matching = inventory.topicRules.filter((r) => r.from !== "" && topicMatches(r.from, READING_TOPIC));
  const store = matching.find((r) => r.actions.some((a) => a.type === "dynamodbv2"));
  if (!store) throw new Error("no topic rule stores telemetry (dynamodbv2 action on devices/+/telemetry)");
  return { store, others: matching.filter((r) => r !== store) };
}

/** Devices publish readings to `$aws/rules/<store rule>/devices/<thing>/telemetry`: no messaging charge; any other telemetry rule's actions join the store rule. */
export function withBasicIngest(inventory: Inventory): Inventory {
  const { store, others } = telemetryRules(inventory);
  const live = others.filter((r) => !r.hasWhere);
  const merged: TopicRuleInfo = { ...store, from: "", actions: [...store.actions, ...live.flatMap((r) => r.actions)] };
  return { ...inventory, basicIngestRules: [store.name], topicRules: [...inventory.topicRules.filter((r) => r !== store && !others.includes(r)), merged] };
}

/** Whether devices already publish readings to the store rule through Basic Ingest (the device policy allows it). */
export function hasBasicIngest(inventory: Inventory): boolean {
  const { store } = telemetryRules(inventory);
  return inventory.basicIngestRules.includes(store.name);
}

export function whatIf(inventory: Inventory, fleets: readonly FleetParameters[]): WhatIfStep[] {
  const priced = (i: Inventory, options: ModelOptions) => Object.fromEntries(fleets.map((f) => [f.devices, costOf(i, f, options).totalUsdPerMonth]));
  const quietLogs: ModelOptions = { workload: { lambdaLogBytesPerInvocation: 0 } };
  // One rule, one action; the hot table's stream consumer; no latest-reading table; no PITR on the hot store: synthesized already.
  const steps: WhatIfStep[] = [{ change: "as synthesized today", usdPerMonth: priced(inventory, {}) }];
  const basic = hasBasicIngest(inventory) ? inventory : withBasicIngest(inventory);
  if (basic !== inventory) steps.push({ change: "Basic Ingest for telemetry (the store rule only, no messaging charge)", usdPerMonth: priced(basic, {}) });
  steps.push({ change: "+ Lambda JSON logs at WARN (no START/END/REPORT or info lines for successful invocations)", usdPerMonth: priced(basic, quietLogs) });
  return steps;
}
