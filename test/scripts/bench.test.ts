import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { scratchDir } from "../support/scratch";

const ROOT = join(__dirname, "..", "..");

// A smoke test of the command only: it must run end to end and write results of the documented
// shape. No figure is asserted (benchmarks are not tests).
test("npm run bench -- --quick measures every section and writes bench/results.json's shape", () => {
  const out = join(scratchDir("bench-results-"), "results.json");
  const stdout = execFileSync(process.execPath, [join(ROOT, "node_modules", "tsx", "dist", "cli.mjs"), join(ROOT, "scripts", "bench.ts"), "--quick"], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, BENCH_RESULTS: out },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const results = JSON.parse(readFileSync(out, "utf8"));
  expect(stdout).toContain("| measure | ours | the usual way | ratio |");
  expect(results).toMatchObject({
    quick: true,
    runsPerFigure: 1,
    machine: { cores: expect.any(Number), node: process.version },
    synth: {
      synthSeconds: expect.any(Number),
      synthPeakMiB: expect.any(Number),
      barrelSeconds: expect.any(Number),
      barrelPeakMiB: expect.any(Number),
      ratio: expect.any(Number),
    },
    hook: { hookP50Ms: expect.any(Number), rawP50Ms: expect.any(Number), ratio: expect.any(Number) },
    lambdas: { dynamodbClientOnlyZipKiB: expect.any(Number) },
    device: { steadyRssMiB: expect.any(Number), firstAnswerMs: expect.any(Number) },
    twin: [{ devices: 2, pisPerSecond: expect.any(Number) }],
  });
  expect(results.lambdas.functions.map((f: { name: string }) => f.name)).toEqual(
    expect.arrayContaining(["provisioning-hook", "register-device", "telemetry-broadcast"]),
  );
  for (const f of results.lambdas.functions)
    expect(f).toEqual({
      name: expect.any(String),
      zipKiB: expect.any(Number),
      loadMs: expect.any(Number),
      dynamodbClientOnlyMs: expect.any(Number),
      ratio: expect.any(Number),
    });
}, 900_000);

test("fails when --only names an unknown section", () => {
  expect(() =>
    execFileSync(
      process.execPath,
      [join(ROOT, "node_modules", "tsx", "dist", "cli.mjs"), join(ROOT, "scripts", "bench.ts"), "--quick", "--only", "synth,nonsense"],
      {
        cwd: ROOT,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      },
    ),
  ).toThrow(/--only nonsense/);
});
