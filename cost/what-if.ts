/**
 * Design changes priced by the same model on the same synthesized stacks: each step rewrites the
 * inventory (or a function's per-invocation work) the way the change would rewrite the stacks, so
 * README "Cost" can show before and after from one source. Steps are cumulative.
 */
import { Inventory, TopicRuleInfo } from "./inventory";
import { costOf, ModelOptions, topicMatches } from "./model";
import { FleetParameters, FUNCTION_PROFILES } from "./workload";

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

/** Devices publish readings to `$aws/rules/<store rule>/devices/<thing>/telemetry`; the live rule's action joins the store rule; thresholds are checked by the broadcaster it already invokes. */
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

/**
 * Step 1 is Basic Ingest plus live updates and thresholds through the broadcaster. Once the stacks publish
 * through Basic Ingest (the live and threshold rules then get no reading), only the second half is a
 * change, and it costs more than today: it brings those features back.
 */
function firstStepLabel(inventory: Inventory): string {
  return hasBasicIngest(inventory)
    ? "live updates and thresholds back through the broadcaster, invoked by the store rule (Basic Ingest, already synthesized, reaches no other rule)"
    : "Basic Ingest for telemetry into one rule (store + live actions; thresholds checked by the broadcaster)";
}

export function whatIf(inventory: Inventory, fleets: readonly FleetParameters[]): WhatIfStep[] {
  const priced = (i: Inventory, options: ModelOptions) => Object.fromEntries(fleets.map((f) => [f.devices, costOf(i, f, options).totalUsdPerMonth]));
  const basic = withBasicIngest(inventory);
  const oneWrite: ModelOptions = { profiles: { "telemetry-broadcast": { ...FUNCTION_PROFILES["telemetry-broadcast"], writeUnits: 0 } } };
  const quietLogs: ModelOptions = { ...oneWrite, workload: { lambdaLogBytesPerInvocation: 0 } };
  return [
    { change: "as synthesized today", usdPerMonth: priced(inventory, {}) },
    { change: firstStepLabel(inventory), usdPerMonth: priced(basic, {}) },
    {
      change: "+ one DynamoDB write per reading (no latest-reading table; the API reads each device's newest hot-store item)",
      usdPerMonth: priced(basic, oneWrite),
    },
    {
      change: "+ no point-in-time recovery on the hot store (the warm store already holds every reading)",
      usdPerMonth: priced(withoutHotPitr(basic), oneWrite),
    },
    {
      change: "+ Lambda JSON logs at WARN (no START/END/REPORT or info lines for successful invocations)",
      usdPerMonth: priced(withoutHotPitr(basic), quietLogs),
    },
  ];
}

/** The hot-store table (written by the telemetry rule) without point-in-time recovery. */
export function withoutHotPitr(inventory: Inventory): Inventory {
  const { store } = telemetryRules({ ...inventory, topicRules: inventory.topicRules.map((r) => (r.from === "" ? { ...r, from: "devices/+/telemetry" } : r)) });
  const hot = new Set(store.actions.filter((a) => a.type === "dynamodbv2").map((a) => a.target));
  return { ...inventory, tables: inventory.tables.map((t) => (hot.has(t.name) ? { ...t, pitr: false } : t)) };
}
