/**
 * The five measurements of `npm run bench`, each the median of `runs` runs and each beside the
 * usual way of doing the same thing, measured in the same run.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, existsSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bundleHandler, handlerEntry } from "../../modules/bundling/bundle";
import { lastJson, median, round, timed } from "./measure";

export const ROOT = join(__dirname, "..", "..");
const TSX = join(ROOT, "node_modules", "tsx", "dist", "cli.mjs");

/** 1. The app command from cdktf.json (warm bundle cache) vs loading the provider's barrel. */
export function synthVsBarrel(runs: number) {
  const app = (JSON.parse(readFileSync(join(ROOT, "cdktf.json"), "utf8")) as { app: string }).app.split(" ");
  const outdir = mkdtempSync(join(tmpdir(), "bench-synth-"));
  try {
    const env = { IOT_OFFLINE: "1", CDKTF_OUTDIR: outdir };
    timed(app[0], app.slice(1), { cwd: ROOT, env }); // warms the bundle cache
    const synth = Array.from({ length: runs }, () => timed(app[0], app.slice(1), { cwd: ROOT, env }));
    const barrel = Array.from({ length: runs }, () => timed(process.execPath, ["-e", 'require("@cdktf/provider-aws")'], { cwd: ROOT }));
    const synthSeconds = median(synth.map((t) => t.seconds));
    const barrelSeconds = median(barrel.map((t) => t.seconds));
    return {
      command: app.join(" "),
      synthSeconds,
      synthPeakMiB: round(median(synth.map((t) => t.peakMiB)), 0),
      barrelSeconds,
      barrelPeakMiB: round(median(barrel.map((t) => t.peakMiB)), 0),
      ratio: round(synthSeconds / barrelSeconds),
    };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** 2. The provisioning hook vs the raw DynamoDB calls it makes (scripts/bench-hook.ts rounds 0 and 1). */
export function hookVsRaw(runs: number, serials: number) {
  const results = Array.from({ length: runs }, () => {
    // --paired: raw and hook calls one at a time, alternating (per-call latency, not dynalite's queue; see
    // scripts/bench-hook.ts). The race and token rounds keep 2 calls in flight: a race, well inside the hook's
    // 1 s request timeout. A correctness failure still has figures; it is reported.
    const args = ["--serials", String(serials), "--contended", "5", "--racers", "2", "--concurrency", "2", "--paired"];
    const out = timed(process.execPath, [TSX, join(ROOT, "scripts", "bench-hook.ts"), ...args], {
      cwd: ROOT,
      env: { BENCH_JSON: "1" },
      allowFailure: true,
    });
    return { ...lastJson<{ rawP50Ms: number; hookP50Ms: number; rawPerSecond: number; hookPerSecond: number }>(out.stdout), correct: out.exitCode === 0 };
  });
  const hookP50Ms = median(results.map((r) => r.hookP50Ms));
  const rawP50Ms = median(results.map((r) => r.rawP50Ms));
  return {
    serialsPerRun: serials,
    hookP50Ms: round(hookP50Ms),
    rawP50Ms: round(rawP50Ms),
    hookPerSecond: round(median(results.map((r) => r.hookPerSecond)), 0),
    rawPerSecond: round(median(results.map((r) => r.rawPerSecond)), 0),
    ratio: round(hookP50Ms / rawP50Ms),
    everyRunCorrect: results.every((r) => r.correct),
  };
}

/** Milliseconds to require() `file` in a fresh Node process (module load only, no invocation). */
function loadMs(file: string): number {
  const script = `const t=process.hrtime.bigint();require(${JSON.stringify(file)});process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))`;
  // Handlers never throw at import (functions/shared/config.ts), so no configuration is needed to load them.
  return Number(execFileSync(process.execPath, ["-e", script], { env: { ...process.env, AWS_REGION: "eu-west-1" }, encoding: "utf8" }));
}

function unzippedIndex(zipPath: string, dir: string): string {
  const file = join(dir, "index.js");
  writeFileSync(file, execFileSync("unzip", ["-p", zipPath, "index.js"]));
  return file;
}

/** 3. Each Lambda: zip size, and module-load time vs a bundle that only creates a DynamoDB client. */
export function lambdas(runs: number) {
  const dir = mkdtempSync(join(tmpdir(), "bench-lambdas-"));
  try {
    const baseline = bundleHandler(join(ROOT, "bench", "dynamodb-client-only.ts"));
    const baselineFile = unzippedIndex(baseline.zipPath, mkdtempSync(join(dir, "baseline-")));
    const functionsDir = join(ROOT, "functions");
    const names = readdirSync(functionsDir, { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(join(functionsDir, d.name, "index.ts")))
      .map((d) => d.name)
      .sort();
    const rows = names.map((name) => {
      const bundle = bundleHandler(handlerEntry(name));
      const file = unzippedIndex(bundle.zipPath, mkdtempSync(join(dir, `${name}-`)));
      // Interleaved, so load on the machine hits both alike.
      const own: number[] = [];
      const yardstick: number[] = [];
      for (let i = 0; i < runs; i++) {
        own.push(loadMs(file));
        yardstick.push(loadMs(baselineFile));
      }
      const loadMsMedian = median(own);
      const baselineMs = median(yardstick);
      return {
        name,
        zipKiB: round(bundle.zipBytes / 1024, 1),
        loadMs: round(loadMsMedian, 1),
        dynamodbClientOnlyMs: round(baselineMs, 1),
        ratio: round(loadMsMedian / baselineMs),
      };
    });
    return { dynamodbClientOnlyZipKiB: round(baseline.zipBytes / 1024, 1), loadsPerFigure: runs, functions: rows };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** 4. The device client in the twin's front end: steady memory and start to first answered command. */
export function deviceClient(runs: number, seconds: number) {
  const results = Array.from({ length: runs }, () =>
    lastJson<{ steadyRssMiB: number; firstAnswerMs: number }>(
      timed(process.execPath, [TSX, join(ROOT, "scripts", "bench-device.ts")], {
        cwd: ROOT,
        env: { BENCH_JSON: "1", BENCH_SECONDS: String(seconds), BENCH_RATE: "10" },
      }).stdout,
    ),
  );
  return {
    secondsPerRun: seconds,
    steadyRssMiB: round(median(results.map((r) => r.steadyRssMiB)), 1),
    firstAnswerMs: round(median(results.map((r) => r.firstAnswerMs)), 0),
  };
}

/** 5. The twin: Pis provisioned per second (smoke scenario: claim -> certificate -> RegisterThing -> first connection). */
export function twinProvisioning(runs: number, fleets: readonly number[]) {
  return fleets.map((devices) => {
    const rates = Array.from({ length: runs }, () => {
      const workDir = mkdtempSync(join(tmpdir(), "bench-twin-"));
      try {
        // The rate needs every Pi provisioned; later smoke steps (e.g. offline detection) may time out on an overloaded machine.
        const out = timed(process.execPath, [TSX, join(ROOT, "local", "cli.ts"), "--scenario", "smoke", "--devices", String(devices), "--work-dir", workDir], {
          cwd: ROOT,
          allowFailure: true,
        });
        const result = lastJson<{ ok: boolean; provisioned?: number; provisionMs: number; error?: string }>(out.stdout);
        if (result.provisioned !== devices || !result.provisionMs)
          throw new Error(`twin smoke provisioned ${result.provisioned ?? "?"} of ${devices} Pis: ${result.error ?? out.stdout.slice(-500)}`);
        return { rate: (devices / result.provisionMs) * 1000, scenarioOk: result.ok };
      } finally {
        rmSync(workDir, { recursive: true, force: true });
      }
    });
    return { devices, pisPerSecond: round(median(rates.map((r) => r.rate))), everySmokeRunOk: rates.every((r) => r.scenarioOk) };
  });
}
