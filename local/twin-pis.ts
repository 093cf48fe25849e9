/**
 * The twin's simulated Raspberry Pis: creating them (config, data dir), provisioning them through the
 * IoT front end with the claim certificate, running and stopping their device processes.
 *
 * ```ts
 * const pis = new PiLauncher({ workDir, bundle, endpoint: iot.endpoint, claim: iot.identityFiles(CLAIM_IDENTITY), templateName, note });
 * const pi = await pis.create("10000000c0de0001", "thermostat");
 * await pis.provision(pi);       // 0 provisioned, 77 denied by the registry
 * await pis.start(pi);           // connected as its thing and subscribed to its commands
 * ```
 */
import * as path from "node:path";
import { SimulatedPi, type DeviceBundle } from "./fleet";
import type { TwinEndpoint } from "./twin-iot";

export interface PiLauncherOptions {
  readonly workDir: string;
  readonly bundle: DeviceBundle;
  /** The IoT front end: where Pis provision and run. */
  readonly endpoint: TwinEndpoint;
  readonly claim: { readonly certFile: string; readonly keyFile: string };
  readonly templateName: string;
  /** The rotation template: Pis rotate their certificate with it on a command or job. @default rotation off */
  readonly rotationTemplateName?: string;
  /** @default 0 (off) */
  readonly telemetryIntervalSeconds?: number;
  /** @default "info" */
  readonly deviceLogLevel?: "debug" | "info" | "warn" | "error";
  /** @default 200..2000 ms */
  readonly deviceReconnect?: { minDelayMs: number; maxDelayMs: number; resetAfterMs: number };
  /** True while the twin shuts down (exits are then expected). */
  readonly stopping: () => boolean;
  readonly note: (text: string) => void;
}

export interface PiOptions {
  readonly handlerModules?: readonly string[];
  /** Written to the Pi's token file and sent as `ProvisioningToken`. */
  readonly provisioningToken?: string;
  /** This Pi's directory and key. @default the serial (e.g. another name for an impostor with a copied serial) */
  readonly name?: string;
  /** The simulated room its sensors measure (`local/device-sensors/room.ts`). @default a room that drifts by itself */
  readonly room?: { readonly co2Ppm?: number; readonly temperatureC?: number; readonly humidityPct?: number; readonly occupied?: boolean };
  /** More device config (e.g. the OTA scenario's installer and health check). */
  readonly deviceConfig?: Readonly<Record<string, unknown>>;
  /** This Pi's telemetry interval. @default the launcher's */
  readonly telemetryIntervalSeconds?: number;
}

export class PiLauncher {
  readonly pis = new Map<string, SimulatedPi>();

  constructor(private readonly options: PiLauncherOptions) {}

  /** A new simulated Pi (its own directory, config file and data dir); not started. */
  async create(serialNumber: string, deviceType: string, extra: PiOptions = {}): Promise<SimulatedPi> {
    const o = this.options;
    const pi = new SimulatedPi({
      serialNumber,
      deviceType,
      dir: path.join(path.resolve(o.workDir), "pis", extra.name ?? serialNumber),
      cliPath: o.bundle.cliPath,
      endpoint: o.endpoint,
      claim: o.claim,
      templateName: o.templateName,
      handlerModules: extra.handlerModules,
      provisioningToken: extra.provisioningToken,
      telemetryIntervalSeconds: extra.telemetryIntervalSeconds ?? o.telemetryIntervalSeconds ?? 0,
      logLevel: o.deviceLogLevel ?? "info",
      extraConfig: {
        reconnect: o.deviceReconnect ?? { minDelayMs: 200, maxDelayMs: 2000, resetAfterMs: 5000 },
        provisioning: { maxAttempts: 4, attemptTimeoutMs: 30_000, backoff: { baseMs: 500, maxMs: 4000 } },
        // Every simulated Pi has room sensors beside its own metrics, through the documented sensorModules option.
        sensorModules: Object.values(o.bundle.sensorModules),
        sensorSettings: { room: extra.room ?? {} },
        ...(o.rotationTemplateName ? { certificateRotation: { templateName: o.rotationTemplateName } } : {}),
        ...extra.deviceConfig,
      },
    });
    await pi.writeConfig();
    pi.on("exit", ({ phase, code, signal }) => {
      if (phase === "run" && pi.state === "running" && !o.stopping()) o.note(`${serialNumber}: device process exited (code ${code}, signal ${signal})`);
    });
    this.pis.set(extra.name ?? serialNumber, pi);
    return pi;
  }

  /**
   * Provision a Pi on the endpoint (the front end answers only the requesting connection, as AWS does);
   * resolves to the device's exit code (0 provisioned, 77 denied by the registry).
   */
  async provision(pi: SimulatedPi): Promise<number | null> {
    const code = await pi.provision(this.options.endpoint.port);
    if (code === 0) this.options.note(`${pi.serialNumber}: provisioned (certificate and thing.json in ${pi.dataDir})`);
    else if (code === 77) this.options.note(`${pi.serialNumber}: provisioning DENIED by the registry (exit 77)`);
    else this.options.note(`${pi.serialNumber}: provisioning failed (exit ${code}); last lines:\n${pi.recent.slice(-5).join("\n")}`);
    return code;
  }

  /** Start a provisioned Pi's `run` process; resolves when it is connected and subscribed to its commands. */
  async start(pi: SimulatedPi, timeoutMs = 60_000): Promise<void> {
    const ready = new Promise<void>((resolve, reject) => {
      let connectedTimer: NodeJS.Timeout | undefined;
      const timer = setTimeout(
        () => done(new Error(`${pi.serialNumber} did not connect within ${timeoutMs} ms:\n${pi.recent.slice(-10).join("\n")}`)),
        timeoutMs,
      );
      const onLog = (record: { msg?: string }): void => {
        if (record.msg === "subscribed") done();
        // Clients that do not log "subscribed": give the SUBSCRIBE a moment after CONNACK.
        else if (record.msg === "connected" && !connectedTimer) connectedTimer = setTimeout(() => done(), 2000);
      };
      const onExit = (): void => done(new Error(`${pi.serialNumber} exited while starting:\n${pi.recent.slice(-10).join("\n")}`));
      const done = (err?: Error): void => {
        clearTimeout(timer);
        clearTimeout(connectedTimer);
        pi.off("log", onLog);
        pi.off("exit", onExit);
        if (err) reject(err);
        else resolve();
      };
      pi.on("log", onLog);
      pi.on("exit", onExit);
    });
    pi.run();
    await ready;
    this.options.note(`${pi.serialNumber}: running (pid ${pi.pid}), connected as thing ${pi.serialNumber}`);
  }

  /** Stop a Pi's process cleanly (SIGTERM). */
  async stop(pi: SimulatedPi): Promise<number | null> {
    const code = await pi.stop();
    this.options.note(`${pi.serialNumber}: stopped (exit ${code})`);
    return code;
  }

  /** Stop every running Pi and close their logs. */
  async stopAll(): Promise<void> {
    await Promise.all(
      [...this.pis.values()].map(async (p) => {
        if (p.running) await p.stop();
        await p.closeLog();
      }),
    );
  }
}
