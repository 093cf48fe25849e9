/**
 * `npm run bench [-- --quick] [-- --only synth,hook,lambdas,device,twin]`: prints a table and writes
 * bench/results.json. Every figure is the median of 5 runs (module loads: of 21; 1 with --quick, a smoke test of the
 * command only), beside the usual way of doing the same thing measured in the same run.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { deviceClient, hookVsRaw, lambdas, ROOT, synthVsBarrel, twinProvisioning } from "./bench/sections";

const SECTIONS = ["synth", "hook", "lambdas", "device", "twin"] as const;
type Section = (typeof SECTIONS)[number];

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const onlyArg = args[args.indexOf("--only") + 1];
const only = new Set<Section>(args.includes("--only") ? (onlyArg.split(",") as Section[]) : SECTIONS);
for (const s of only) if (!SECTIONS.includes(s)) throw new Error(`--only ${s}: use one or more of ${SECTIONS.join(",")}`);
const runs = quick ? 1 : 5;
const outFile = process.env.BENCH_RESULTS ?? join(ROOT, "bench", "results.json");

// `--only` re-measures those sections and keeps the others' last figures.
const previous: Record<string, unknown> = args.includes("--only") && existsSync(outFile) ? JSON.parse(readFileSync(outFile, "utf8")) : {};
const results: Record<string, unknown> = {
  ...Object.fromEntries(Object.entries(previous).filter(([k]) => (SECTIONS as readonly string[]).includes(k))),
  date: new Date().toISOString(),
  quick,
  runsPerFigure: runs,
  machine: {
    cpu: os.cpus()[0]?.model ?? "unknown",
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    loadAverage1m: Math.round(os.loadavg()[0] * 10) / 10,
  },
};
let failed = false;
// Each section on its own: one that fails is recorded with its error and the others still run.
const section = <T>(name: Section, run: () => T) => {
  if (!only.has(name)) return;
  const started = Date.now();
  try {
    results[name] = run();
  } catch (error) {
    failed = true;
    results[name] = { error: error instanceof Error ? error.message.slice(0, 2000) : String(error) };
  }
  process.stderr.write(`bench: ${name} done in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  mkdirSync(join(outFile, ".."), { recursive: true });
  writeFileSync(outFile, JSON.stringify(results, null, 2) + "\n");
};

section("synth", () => synthVsBarrel(runs));
section("hook", () => hookVsRaw(runs, quick ? 20 : 300));
// A module load takes ~50 ms and the machine's noise is of that order: 21 interleaved pairs per figure, not 5.
section("lambdas", () => lambdas(quick ? 1 : 21));
section("device", () => deviceClient(runs, quick ? 3 : 15));
// `--twin-fleets 50,200` (the default): fleet sizes of the twin section.
const fleetsArg = args.includes("--twin-fleets") ? args[args.indexOf("--twin-fleets") + 1].split(",").map(Number) : [50, 200];
if (fleetsArg.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--twin-fleets ${fleetsArg.join(",")}: give whole numbers of Pis, e.g. 50,200`);
section("twin", () => twinProvisioning(runs, quick ? [2] : fleetsArg));

for (const line of table(results)) console.log(line);
console.log(`\nwritten to ${outFile}`);
if (failed) {
  console.error("some sections failed; their errors are in the results file");
  process.exitCode = 1;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the results object is the open-ended JSON the sections wrote, read field by field for the table
function table(r: Record<string, any>): string[] {
  const m = r.machine;
  const lines = [
    `Benchmarks ${r.date.slice(0, 16)}Z, ${m.cpu} x${m.cores}, ${m.memoryGiB} GiB, Node ${m.node}, load ${m.loadAverage1m}; median of ${r.runsPerFigure} run(s)`,
    "",
  ];
  lines.push("| measure | ours | the usual way | ratio |", "|---|---|---|---|");
  for (const [name, value] of Object.entries(r))
    if (value && typeof value === "object" && "error" in value) lines.push(`| ${name}: FAILED | ${String(value.error).split("\n")[0].slice(0, 200)} | | |`);
  const ok = (v: unknown): boolean => typeof v === "object" && v !== null && !("error" in v);
  if (ok(r.synth)) {
    lines.push(
      `| synth: \`${r.synth.command}\` (warm cache) vs \`require("@cdktf/provider-aws")\` | ${r.synth.synthSeconds} s, ${r.synth.synthPeakMiB} MiB peak | ${r.synth.barrelSeconds} s, ${r.synth.barrelPeakMiB} MiB peak | ${r.synth.ratio}x |`,
    );
  }
  if (ok(r.hook))
    lines.push(
      `| provisioning hook vs its raw DynamoDB calls (dynalite, p50) | ${r.hook.hookP50Ms} ms (${r.hook.hookPerSecond}/s)${r.hook.everyRunCorrect ? "" : " (some runs denied a serial they should have allowed: see scripts/bench-hook.ts)"} | ${r.hook.rawP50Ms} ms (${r.hook.rawPerSecond}/s) | ${r.hook.ratio}x |`,
    );
  if (ok(r.lambdas)) {
    for (const f of r.lambdas.functions) {
      lines.push(
        `| Lambda ${f.name}: zip, module load vs DynamoDB-client-only bundle (${r.lambdas.dynamodbClientOnlyZipKiB} KiB; median of ${r.lambdas.loadsPerFigure ?? r.runsPerFigure}) | ${f.zipKiB} KiB, ${f.loadMs} ms | ${f.dynamodbClientOnlyMs} ms | ${f.ratio}x |`,
      );
    }
  }
  if (ok(r.device))
    lines.push(
      `| device client: steady RSS, start to first answered command (twin front end) | ${r.device.steadyRssMiB} MiB, ${r.device.firstAnswerMs} ms | — | — |`,
    );
  if (Array.isArray(r.twin)) for (const t of r.twin) lines.push(`| twin: Pis provisioned per second, ${t.devices} Pis | ${t.pisPerSecond} /s | — | — |`);
  return lines;
}
