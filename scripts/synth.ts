/**
 * `npm run synth`: synthesizes every stack into cdktf.out and prints what each one holds.
 * IOT_ENV picks the environment, IOT_OFFLINE=1 the offline (plan-anywhere) mode.
 */
import { App } from "cdktf";
import { loadConfig } from "../config";
import { defineStacks, isOffline } from "../main";
import { summarizeSynthesized } from "./stack-summary";
import { deploymentOrder } from "./stack-order";
import { PolicyGate, formatSummary } from "../modules/policy-gate/policy-gate";

const outdir = process.env.CDKTF_OUTDIR ?? "cdktf.out";
const started = process.hrtime.bigint();
const config = loadConfig();
const offline = isOffline();
const app = new App({ outdir });
defineStacks(app, { config, offline });
try {
  app.synth();
} catch (error) {
  // The policy gate's violations (one per line, with the fix) are in the message.
  console.error(error instanceof Error ? error.message : String(error));
  console.error(`\n${formatSummary(PolicyGate.report(app))}`);
  process.exit(1);
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;

const peakMiB = Math.round(process.resourceUsage().maxRSS / 1024);
console.log(
  `Synthesized environment "${config.name}" (${offline ? "offline" : "S3 backend"}) into ${outdir} in ${seconds.toFixed(2)} s (peak memory ${peakMiB} MiB)\n`,
);
for (const summary of summarizeSynthesized(outdir, deploymentOrder(app))) {
  console.log(`${summary.stack}  (${summary.resourceCount} resources, ${summary.outputs.length} outputs)`);
  for (const [type, count] of Object.entries(summary.resourcesByType)) console.log(`    ${String(count).padStart(3)}  ${type}`);
  if (summary.outputs.length > 0) console.log(`    outputs: ${summary.outputs.join(", ")}`);
}
console.log(`\n${formatSummary(PolicyGate.report(app))}`);
