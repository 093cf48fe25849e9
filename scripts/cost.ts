/**
 * `npm run cost -- --env dev --devices 20 --interval 10 [--json] [--chart docs/cost-chart.svg]`:
 * monthly cost of the whole backend from the synthesized stacks (cost/), at eu-west-1 list prices.
 */
import { writeFileSync } from "node:fs";
import { Command } from "commander";
import { inventoryOf, synthesizeStacks } from "../cost/inventory";
import { costOf, fixedAndPerDevice, unconfirmedPrices } from "../cost/model";
import { costChartSvg } from "../cost/chart";
import { SEED_ESTIMATES } from "../cost/seeds";
import { whatIf } from "../cost/what-if";

const program = new Command()
  .name("cost")
  .option("--env <env>", "environment (config/)", process.env.IOT_ENV ?? "dev")
  .option("--devices <n>", "devices in the fleet", "20")
  .option("--interval <minutes>", "minutes between telemetry readings", "10")
  .option("--json", "print one JSON object")
  .option("--chart <file>", "write the cost-vs-fleet-size SVG to this file")
  .parse();
const opts = program.opts<{ env: string; devices: string; interval: string; json?: boolean; chart?: string }>();
const fleet = { devices: Number(opts.devices), intervalMinutes: Number(opts.interval) };

const inventory = inventoryOf(opts.env, synthesizeStacks(opts.env));
const report = costOf(inventory, fleet);
const split = fixedAndPerDevice(inventory, fleet);
const comparisons = [20, 10000].map((devices) => ({
  devices,
  oursUsdPerMonth: costOf(inventory, { ...fleet, devices }).totalUsdPerMonth,
  seeds: SEED_ESTIMATES.filter((s) => s.devices === devices),
}));

const designChanges = whatIf(
  inventory,
  [20, 10000].map((devices) => ({ ...fleet, devices })),
);

if (opts.chart) writeFileSync(opts.chart, costChartSvg(inventory, fleet.intervalMinutes));

if (opts.json) {
  console.log(JSON.stringify({ ...report, ...split, comparisons, designChanges, unconfirmedPrices: unconfirmedPrices() }, null, 2));
} else {
  const usd = (v: number) => `$${v.toFixed(2)}`;
  console.log(`Monthly cost, environment "${report.environment}", ${report.devices} devices, a reading every ${report.intervalMinutes} min`);
  console.log(
    `${report.region} list prices read ${report.pricesRead}, no free tier; ${unconfirmedPrices().length} prices not confirmed for the region (cost/prices.eu-west-1.json)\n`,
  );
  for (const [service, usdPerMonth] of Object.entries(report.byService).sort(([, a], [, b]) => b - a)) {
    console.log(`  ${service.padEnd(16)} ${usd(usdPerMonth).padStart(10)}`);
    // Cent-sized lines are left out, except a zero that is there on purpose (model.ts: "Basic Ingest: none").
    for (const item of report.items.filter((i) => i.service === service && (i.usdPerMonth >= 0.005 || i.quantity === 0))) {
      console.log(`      ${item.item.padEnd(52)} ${usd(item.usdPerMonth).padStart(9)}   ${item.quantity.toLocaleString("en-US")} ${item.unit}`);
    }
  }
  console.log(
    `  ${"TOTAL".padEnd(16)} ${usd(report.totalUsdPerMonth).padStart(10)}  (fixed ${usd(split.fixedUsdPerMonth)} + ${usd(split.perDeviceUsdPerMonth)} per device)\n`,
  );
  console.log("Beside the seeds' estimates:");
  for (const c of comparisons) {
    console.log(`  ${String(c.devices).padStart(6)} devices: ours ${usd(c.oursUsdPerMonth)}/month`);
    for (const s of c.seeds)
      console.log(`                  seed ${s.seed}: ${s.figure}${s.usdPerMonth > 0 ? ` (~${usd(s.usdPerMonth)}/month)` : ""} — ${s.scope}`);
  }
  console.log("\nDesign changes priced by the same model (cumulative), 20 and 10,000 devices:");
  for (const step of designChanges) console.log(`  ${usd(step.usdPerMonth[20]).padStart(8)} ${usd(step.usdPerMonth[10000]).padStart(9)}  ${step.change}`);
}
