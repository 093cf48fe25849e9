/**
 * `npm run local` — the local twin (see local/twin.ts and the README's "Local twin" section).
 *
 *   npm run local                                   3 Pis and the twin console (a web page), runs until Ctrl-C
 *   npm run local -- --devices 5 --scenario smoke   the lifecycle once, counted; last line JSON; exit 0 when as expected
 *   npm run local -- --devices 5 --scenario chaos   commands while the broker restarts; last line JSON; exit 0 when nothing is lost
 *   npm run local -- --devices 4 --scenario ota     canary, promotion, corrupted image, rollback; last line JSON; exit 0 when all hold
 *   npm run local -- --scenario lifecycle           revoke, re-provision, replace, rotate; last line JSON; exit 0 when all hold
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { TwinConsole } from "./console/twin-console";
import { liveDeviceProcesses } from "./fleet";
import { formatChaosSummary, runChaos } from "./scenarios/chaos";
import { runInteractive } from "./scenarios/interactive";
import { formatSmokeSummary, runSmoke } from "./scenarios/smoke";
import { formatOtaSummary, runOta } from "./scenarios/ota";
import { formatLifecycleSummary, runLifecycle } from "./scenarios/lifecycle";
import { LocalTwin, type LocalTwinOptions } from "./twin";

const USAGE = `usage: npm run local -- [options]

  (no --scenario)           start the twin with --devices Pis and its console page; keep it running until Ctrl-C
  --scenario smoke          register, provision, deny one, command, alert, offline; JSON counts last; exit 0 when as expected
  --scenario chaos          continuous commands while the broker restarts; JSON sent/received/duplicates/lost last; exit 0 when lost = 0
  --scenario ota            canary then fleet rollout, a corrupted image, a rolled-back build (devices >= 3); JSON last; exit 0 when all hold
  --scenario lifecycle      revoke (cut off), re-provision, replace, rotate a certificate (old one refused); JSON last; exit 0 when all hold

options:
  --devices N               simulated Pis (default 3; each is a separate process running the real device client)
  --concurrency N           Pis provisioning / starting at once (default 8)
  --restarts N              chaos: broker restarts (default 3)
  --api-port N              port of the local API (default: random free port)
  --api-key KEY             API key (default: random; also $LOCAL_TWIN_API_KEY)
  --console-port N          port of the twin console web page, without --scenario (default: random free port)
  --offline-grace SECONDS   OFFLINE_GRACE_SECONDS (default 60; smoke 1)
  --sweep-interval SECONDS  offline sweep schedule when running (default 30; 0 = off)
  --telemetry SECONDS       device telemetry interval (default 5 without --scenario, for the console's sparklines; else 0 = off)
  --work-dir DIR            default .local-twin/<scenario or dev> (emptied at start)
  --verbose                 the functions' JSON log lines at info level (default warn)
`;

interface CliOptions {
  scenario?: "smoke" | "chaos" | "ota" | "lifecycle";
  devices: number;
  concurrency: number;
  restarts: number;
  consolePort: number;
  twin: LocalTwinOptions;
}

function parseCli(argv: string[]): CliOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      scenario: { type: "string" },
      devices: { type: "string" },
      concurrency: { type: "string" },
      restarts: { type: "string" },
      "api-port": { type: "string" },
      "api-key": { type: "string" },
      "console-port": { type: "string" },
      "offline-grace": { type: "string" },
      "sweep-interval": { type: "string" },
      telemetry: { type: "string" },
      "work-dir": { type: "string" },
      verbose: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const int = (v: string | undefined, flag: string, fallback: number, min: number, max: number): number => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${flag} must be a whole number from ${min} to ${max}`);
    return n;
  };
  const scenario = values.scenario;
  if (scenario !== undefined && scenario !== "smoke" && scenario !== "chaos" && scenario !== "ota" && scenario !== "lifecycle") {
    throw new Error(`--scenario must be smoke, chaos, ota or lifecycle, got "${scenario}"`);
  }
  const repoRoot = path.resolve(__dirname, "..");
  return {
    scenario,
    devices: int(values.devices, "--devices", 3, 1, 200),
    concurrency: int(values.concurrency, "--concurrency", 8, 1, 64),
    restarts: int(values.restarts, "--restarts", 3, 1, 100),
    consolePort: int(values["console-port"], "--console-port", 0, 0, 65535),
    twin: {
      workDir: values["work-dir"] ?? path.join(repoRoot, ".local-twin", scenario ?? "dev"),
      apiPort: int(values["api-port"], "--api-port", 0, 0, 65535),
      apiKey: values["api-key"] ?? process.env.LOCAL_TWIN_API_KEY,
      offlineGraceSeconds: int(values["offline-grace"], "--offline-grace", scenario === "smoke" ? 1 : 60, 1, 86_400),
      sweepIntervalSeconds: scenario ? 0 : int(values["sweep-interval"], "--sweep-interval", 30, 0, 86_400),
      rollupSchedule: !scenario,
      telemetryIntervalSeconds: int(values.telemetry, "--telemetry", scenario ? 0 : 5, 0, 86_400),
      functionLogLevel: values.verbose ? "info" : "warn",
      printCommands: scenario !== "chaos",
    },
  };
}

async function main(): Promise<number> {
  // Node 20 here (Lambda runs 22): the SDK's "upgrade Node" notice is noise in the twin's output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  let options: CliOptions;
  try {
    options = parseCli(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    return 64;
  }
  // The work dir belongs to the twin: start from an empty one (dynalite is in memory anyway), unless
  // another twin is using it right now.
  const pidFile = path.join(options.twin.workDir, "twin.pid");
  const otherPid = Number(await fs.readFile(pidFile, "utf8").catch(() => ""));
  if (otherPid > 0 && otherPid !== process.pid && isAlive(otherPid)) {
    process.stderr.write(`another local twin (pid ${otherPid}) uses ${options.twin.workDir}; stop it or pass --work-dir\n`);
    return 1;
  }
  await fs.rm(options.twin.workDir, { recursive: true, force: true });
  await fs.mkdir(options.twin.workDir, { recursive: true });
  await fs.writeFile(pidFile, `${process.pid}\n`);

  let twin: LocalTwin | undefined;
  let interrupted = false;
  let resolveInterrupt!: () => void;
  const interruptedPromise = new Promise<void>((resolve) => (resolveInterrupt = resolve));
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) return; // npm and tsx relay the terminal's signal too: one is enough
    interrupted = true;
    process.stdout.write(`\n${signal}: shutting down (every Pi, the IoT endpoint and its broker)...\n`);
    // Hard stop if a clean shutdown hangs.
    setTimeout(() => {
      process.stderr.write("shutdown took too long; exiting\n");
      process.exit(1);
    }, 45_000).unref();
    resolveInterrupt();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const startedAt = Date.now();
  try {
    twin = await LocalTwin.start(options.twin);
    if (!options.scenario) {
      const page = await TwinConsole.start(twin, { port: options.consolePort });
      twin.note("console", `twin console ${page.url} (commands from elsewhere need header x-console-token: ${page.token})`);
      await runInteractive(twin, { devices: options.devices, concurrency: options.concurrency, until: interruptedPromise }).finally(() => page.close());
      await twin.stop();
      return 0;
    }
    if (options.scenario === "ota") {
      const ota = await Promise.race([runOta(twin, { ...options, workDir: options.twin.workDir }), interruptedPromise.then(() => undefined)]);
      await twin.stop();
      if (!ota) return 130;
      for (const line of formatOtaSummary(ota)) console.log(line);
      console.log(JSON.stringify(ota.counts));
      return ota.ok ? 0 : 1;
    }
    if (options.scenario === "lifecycle") {
      const lifecycle = await Promise.race([runLifecycle(twin), interruptedPromise.then(() => undefined)]);
      await twin.stop();
      if (!lifecycle) return 130;
      for (const line of formatLifecycleSummary(lifecycle)) console.log(line);
      console.log(
        JSON.stringify({ ...lifecycle.counts, ok: lifecycle.ok, takesEffectSeconds: lifecycle.takesEffectSeconds, durationMs: lifecycle.durationMs }),
      );
      return lifecycle.ok ? 0 : 1;
    }
    const run = options.scenario === "smoke" ? runSmoke(twin, options) : runChaos(twin, options);
    const result = await Promise.race([run, interruptedPromise.then(() => undefined)]);
    await twin.stop();
    if (!result) return 130;
    if ("expected" in result) {
      for (const line of formatSmokeSummary(result, options.devices)) console.log(line);
      console.log(
        JSON.stringify({
          scenario: "smoke",
          devices: options.devices,
          ok: result.ok,
          ...result.counts,
          durationMs: result.durationMs,
          provisionMs: result.provisionMs,
          deviceRssMiB: result.deviceRssMiB ?? null,
        }),
      );
    } else {
      for (const line of formatChaosSummary(result)) console.log(line);
      console.log(
        JSON.stringify({
          scenario: "chaos",
          devices: options.devices,
          ok: result.ok,
          ...result.counts,
          restarts: result.restarts,
          durationMs: result.durationMs,
        }),
      );
    }
    return result.ok ? 0 : 1;
  } catch (err) {
    process.stderr.write(`local twin failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await twin?.stop().catch(() => undefined);
    console.log(
      JSON.stringify({
        scenario: options.scenario ?? "dev",
        ok: false,
        error: err instanceof Error ? err.message : String(err),
        durationMs: Date.now() - startedAt,
      }),
    );
    return 1;
  } finally {
    if (liveDeviceProcesses() > 0) process.stderr.write(`warning: ${liveDeviceProcesses()} device process(es) still running at exit; killing them\n`);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exit(1);
  },
);
