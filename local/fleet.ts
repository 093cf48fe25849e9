/**
 * Simulated Raspberry Pis: each one is a separate OS process running the REAL device client
 * (`device/cli.ts provision|run`) with its own config file, data directory and serial number.
 *
 * The client is built once into the twin's work directory by the same packager as the Pi's package
 * (scripts/package-device.ts, for this machine's architecture: the bundle loads aws-crt's binary from
 * its own native/), so each process runs what a Pi runs, started with plain `node` in a fraction of the
 * time `tsx` would need. Handler modules under `local/device-handlers/` and sensor modules under
 * `local/device-sensors/` (the simulated room) are bundled beside it.
 *
 * ```ts
 * const bundle = await bundleDeviceClient(path.join(workDir, "bin"));
 * const pi = new SimulatedPi({ serialNumber: "10000000c0de0001", cliPath: bundle.cliPath, ... });
 * await pi.writeConfig();
 * const code = await pi.provision(endpoint.port);  // 0 ok, 77 denied by the registry
 * pi.run();
 * await pi.stop();                                 // SIGTERM: clean shutdown (exit 0)
 * ```
 */
import { ChildProcess, spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import * as fs from "node:fs";
import * as path from "node:path";
import { bundleForNode, hostArch, PACKAGE_LAYOUT, stageDevicePackage } from "../scripts/package-device";

const REPO_ROOT = path.resolve(__dirname, "..");

export interface DeviceBundle {
  /** `node <cliPath> provision|run ...` */
  readonly cliPath: string;
  /** Bundled handler modules by name (`work` -> `<dir>/handlers/work.js`). */
  readonly handlerModules: Readonly<Record<string, string>>;
  /** Bundled sensor modules by name (`room` -> `<dir>/sensors/room.js`). */
  readonly sensorModules: Readonly<Record<string, string>>;
}

/** Build the device package into `<outDir>/package`; bundle `local/device-handlers/*.ts` and `local/device-sensors/*.ts` beside it. */
export async function bundleDeviceClient(outDir: string): Promise<DeviceBundle> {
  const packageDir = path.join(outDir, "package");
  const modules = (dir: string, out: string): Record<string, string> =>
    Object.fromEntries(
      fs
        .readdirSync(path.join(REPO_ROOT, "local", dir))
        .filter((f) => f.endsWith(".ts"))
        .map((f) => [f.replace(/\.ts$/, ""), path.join(outDir, out, f.replace(/\.ts$/, ".js"))]),
    );
  const handlerModules = modules("device-handlers", "handlers");
  const sensorModules = modules("device-sensors", "sensors");
  const bundle = (dir: string, built: Record<string, string>) =>
    Object.entries(built).map(([name, outfile]) => bundleForNode(path.join(REPO_ROOT, "local", dir, `${name}.ts`), outfile));
  await Promise.all([
    stageDevicePackage(packageDir, { arch: hostArch(), version: "twin" }),
    ...bundle("device-handlers", handlerModules),
    ...bundle("device-sensors", sensorModules),
  ]);
  return { cliPath: path.join(packageDir, PACKAGE_LAYOUT.client), handlerModules, sensorModules };
}

/** Every device process started by this module, for a last-resort kill when the twin exits. */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function track(child: ChildProcess): void {
  liveChildren.add(child);
  child.once("exit", () => liveChildren.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once("exit", () => {
      for (const c of liveChildren) {
        try {
          c.kill("SIGKILL");
        } catch {
          // already gone
        }
      }
    });
  }
}

/** Number of device processes still running (for shutdown checks). */
export function liveDeviceProcesses(): number {
  return liveChildren.size;
}

export interface SimulatedPiOptions {
  readonly serialNumber: string;
  readonly deviceType: string;
  /** This Pi's directory: config.json, data/, device.log. */
  readonly dir: string;
  readonly cliPath: string;
  readonly endpoint: { readonly host: string; readonly port: number; readonly caFile: string };
  readonly claim: { readonly certFile: string; readonly keyFile: string };
  readonly templateName: string;
  readonly handlerModules?: readonly string[];
  /** @default 0 (off) */
  readonly telemetryIntervalSeconds?: number;
  /** @default "info" */
  readonly logLevel?: "debug" | "info" | "warn" | "error";
  /** Extra settings merged into config.json (device/config.ts schema). */
  readonly extraConfig?: Record<string, unknown>;
  /**
   * This Pi's provisioning token: written to `<dir>/provisioning-token` (0600, as CI writes it onto the
   * SD card) and named by `provisioning.tokenFile`. @default no token
   */
  readonly provisioningToken?: string;
}

export type PiState = "new" | "provisioning" | "provisioned" | "denied" | "failed" | "running" | "stopped";

/** One parsed JSON log line of the device client. */
export type DeviceLogRecord = Record<string, unknown> & { msg?: string; level?: string };

/** The events of {@link SimulatedPi} and their listener arguments. */
export interface SimulatedPiEvents {
  log: [record: DeviceLogRecord];
  exit: [info: { phase: "provision" | "run"; code: number | null; signal: string | null }];
}

export class SimulatedPi extends EventEmitter<SimulatedPiEvents> {
  readonly serialNumber: string;
  readonly configPath: string;
  readonly dataDir: string;
  readonly logPath: string;
  state: PiState = "new";
  /** The last lines the device printed (for error reports). */
  readonly recent: string[] = [];
  private child?: ChildProcess;
  private exited?: Promise<number | null>;
  private logStream?: fs.WriteStream;

  constructor(private readonly options: SimulatedPiOptions) {
    super();
    this.serialNumber = options.serialNumber;
    this.configPath = path.join(options.dir, "config.json");
    this.dataDir = path.join(options.dir, "data");
    this.logPath = path.join(options.dir, "device.log");
  }

  get deviceType(): string {
    return this.options.deviceType;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Write `config.json` (the file a real Pi has in /etc/smart-home-device/). */
  async writeConfig(): Promise<void> {
    const o = this.options;
    await fs.promises.mkdir(this.dataDir, { recursive: true, mode: 0o700 });
    const config = {
      endpoint: o.endpoint.host,
      port: o.endpoint.port,
      caFile: o.endpoint.caFile,
      claimCertFile: o.claim.certFile,
      claimKeyFile: o.claim.keyFile,
      serialNumber: o.serialNumber,
      deviceType: o.deviceType,
      templateName: o.templateName,
      dataDir: "data",
      telemetryIntervalSeconds: o.telemetryIntervalSeconds ?? 0,
      installCommand: ["/bin/true"],
      handlerModules: [...(o.handlerModules ?? [])],
      logLevel: o.logLevel ?? "info",
      ...o.extraConfig,
    };
    if (o.provisioningToken !== undefined) {
      await fs.promises.writeFile(path.join(o.dir, "provisioning-token"), `${o.provisioningToken}\n`, { mode: 0o600 });
      const provisioning = (o.extraConfig?.provisioning ?? {}) as Record<string, unknown>;
      Object.assign(config, { provisioning: { ...provisioning, tokenFile: "provisioning-token" } });
    }
    await fs.promises.writeFile(this.configPath, JSON.stringify(config, null, 2) + "\n", { mode: 0o600 });
  }

  /** Run `provision` against the endpoint's port; resolves to the exit code. */
  async provision(provisioningPort: number, timeoutMs = 120_000): Promise<number | null> {
    this.state = "provisioning";
    this.spawn("provision", ["provision", "--config", this.configPath, "--provisioning-port", String(provisioningPort)]);
    const code = await this.waitForExit(timeoutMs);
    this.state = code === 0 ? "provisioned" : code === 77 ? "denied" : "failed";
    return code;
  }

  /** Start `run` (connects as the thing, serves commands) in the background. */
  run(): void {
    if (this.child) throw new Error(`${this.serialNumber}: a process is already running`);
    this.state = "running";
    this.spawn("run", ["run", "--config", this.configPath]);
  }

  /** SIGTERM (the client flushes its outbox and disconnects), SIGKILL after `timeoutMs`. */
  async stop(timeoutMs = 15_000): Promise<number | null> {
    if (!this.child) return null;
    this.state = "stopped";
    this.child.kill("SIGTERM");
    const code = await this.waitForExit(timeoutMs);
    return code;
  }

  /** Resident memory of the running process in KiB (Linux /proc), if known. */
  rssKiB(): number | undefined {
    if (!this.child?.pid) return undefined;
    try {
      const status = fs.readFileSync(`/proc/${this.child.pid}/status`, "utf8");
      const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
      return m ? Number(m[1]) : undefined;
    } catch {
      return undefined;
    }
  }

  private spawn(phase: "provision" | "run", args: string[]): void {
    this.logStream ??= fs.createWriteStream(this.logPath, { flags: "a" });
    // Own process group: a Ctrl-C in the terminal reaches the twin only, which stops every Pi in order.
    const child = spawn(process.execPath, [this.options.cliPath, ...args], {
      cwd: this.options.dir,
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: process.env.HOME ?? "/tmp",
        LOG_LEVEL: this.options.logLevel ?? "info",
      },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    this.child = child;
    track(child);
    let buffer = "";
    const onData = (chunk: Buffer): void => {
      this.logStream?.write(chunk);
      buffer += chunk.toString("utf8");
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        this.recent.push(line);
        if (this.recent.length > 40) this.recent.shift();
        if (line.startsWith("{")) {
          try {
            this.emit("log", JSON.parse(line) as DeviceLogRecord);
          } catch {
            // not a log record
          }
        }
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        if (this.child === child) this.child = undefined;
        this.emit("exit", { phase, code, signal });
        resolve(code ?? (signal ? -1 : null));
      });
      child.once("error", () => {
        if (this.child === child) this.child = undefined;
        resolve(-1);
      });
    });
  }

  private async waitForExit(timeoutMs: number): Promise<number | null> {
    const exited = this.exited;
    if (!exited) return null;
    let timer: NodeJS.Timeout | undefined;
    const child = this.child;
    const timeout = new Promise<number | null>((resolve) => {
      timer = setTimeout(() => {
        child?.kill("SIGKILL");
        resolve(exited);
      }, timeoutMs);
    });
    try {
      return await Promise.race([exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Close the log file (after the last process exited). */
  async closeLog(): Promise<void> {
    const stream = this.logStream;
    this.logStream = undefined;
    if (stream) await new Promise<void>((resolve) => stream.end(() => resolve()));
  }
}
