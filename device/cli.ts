#!/usr/bin/env node
/**
 * smart-home-device: the Raspberry Pi client.
 *
 *   smart-home-device provision [--config FILE] [flags]   first boot: fleet provisioning by claim (no-op when done)
 *   smart-home-device run       [--config FILE] [flags]   connect as the thing and serve commands, telemetry, OTA
 *   smart-home-device service   [--config FILE] [flags]   provision (if needed), then run: one main process, so
 *                                                         systemd's RestartPreventExitStatus sees a denial
 *
 * Exit codes (systemd's RestartPreventExitStatus= lists the final ones):
 *   0  done / clean shutdown on SIGTERM or SIGINT
 *   1  unexpected failure
 *   64 usage error
 *   75 provisioning could not reach the service after all retries (temporary; systemd restarts the unit)
 *   77 denied by the registry (RegisterThing rejected / pre-provisioning hook said no): final, no retry
 *   78 configuration error (including "not provisioned yet" for `run`, and a named provisioning token
 *      file that is missing or empty)
 */
import * as path from "node:path";
import { parseArgs } from "node:util";
import { DeviceAgent } from "./agent";
import { readJsonSync } from "./files";
import { recoverIdentity } from "./identity-files";
import { ConfigError, DEFAULT_CONFIG_PATH, DeviceConfigInput, loadConfig } from "./config";
import { Logger, createLogger } from "./log";
import { ProvisioningDeniedError, ThingRecord, TransientProvisioningError, provision, readProvisionedThing } from "./provision";

export const EXIT = { OK: 0, FAILURE: 1, USAGE: 64, TEMPFAIL: 75, DENIED: 77, CONFIG: 78 } as const;

const USAGE = `usage: smart-home-device <provision|run|service> [--config FILE] [options]

options (override the config file):
  --config FILE                 config file (default ${DEFAULT_CONFIG_PATH}, or $SMART_HOME_DEVICE_CONFIG)
  --endpoint HOST  --port N     MQTT endpoint
  --ca-file F  --cert-file F  --key-file F
  --claim-cert-file F  --claim-key-file F
  --provisioning-endpoint HOST  --provisioning-port N
  --serial-number S             instead of /proc/cpuinfo
  --provisioning-token-file F   this device's provisioning token (provisioning.tokenFile)
  --device-type T  --template-name T  --data-dir D
  --telemetry-interval SECONDS
  --install-command PATH        firmware installer (the file path is appended)
  --handler-module FILE         extra command handlers (repeatable)
  --sensor-module FILE          sensor readings for telemetry (repeatable; device/sensors.ts)
  --log-level debug|info|warn|error
`;

function parseCli(argv: string[]): { command: string | undefined; configPath: string | undefined; overrides: Partial<DeviceConfigInput> } {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: "string" },
      endpoint: { type: "string" },
      port: { type: "string" },
      "ca-file": { type: "string" },
      "cert-file": { type: "string" },
      "key-file": { type: "string" },
      "claim-cert-file": { type: "string" },
      "claim-key-file": { type: "string" },
      "provisioning-endpoint": { type: "string" },
      "provisioning-port": { type: "string" },
      "serial-number": { type: "string" },
      "provisioning-token-file": { type: "string" },
      "device-type": { type: "string" },
      "template-name": { type: "string" },
      "data-dir": { type: "string" },
      "telemetry-interval": { type: "string" },
      "install-command": { type: "string" },
      "handler-module": { type: "string", multiple: true },
      "sensor-module": { type: "string", multiple: true },
      "log-level": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) throw new UsageError("");
  const num = (v: string | undefined, flag: string): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new UsageError(`${flag} must be a number`);
    return n;
  };
  const overrides: Partial<DeviceConfigInput> = {
    endpoint: values.endpoint,
    port: num(values.port, "--port"),
    caFile: values["ca-file"],
    certFile: values["cert-file"],
    keyFile: values["key-file"],
    claimCertFile: values["claim-cert-file"],
    claimKeyFile: values["claim-key-file"],
    provisioningEndpoint: values["provisioning-endpoint"],
    provisioningPort: num(values["provisioning-port"], "--provisioning-port"),
    serialNumber: values["serial-number"],
    // Relative to the working directory, like every path flag.
    provisioning: values["provisioning-token-file"] ? { tokenFile: path.resolve(values["provisioning-token-file"]) } : undefined,
    deviceType: values["device-type"],
    templateName: values["template-name"],
    dataDir: values["data-dir"],
    telemetryIntervalSeconds: num(values["telemetry-interval"], "--telemetry-interval"),
    installCommand: values["install-command"] ? [values["install-command"]] : undefined,
    handlerModules: values["handler-module"],
    sensorModules: values["sensor-module"],
    logLevel: values["log-level"] as DeviceConfigInput["logLevel"],
  };
  return { command: positionals[0], configPath: values.config ?? process.env.SMART_HOME_DEVICE_CONFIG ?? DEFAULT_CONFIG_PATH, overrides };
}

class UsageError extends Error {}

/** Run the CLI; resolves to the process exit code. */
export async function main(argv: string[], log: Logger = createLogger()): Promise<number> {
  let parsed: ReturnType<typeof parseCli>;
  try {
    parsed = parseCli(argv);
  } catch (err) {
    process.stderr.write((err instanceof UsageError && err.message ? `${err.message}\n` : "") + USAGE);
    return err instanceof UsageError && !err.message ? EXIT.OK : EXIT.USAGE;
  }
  if (parsed.command !== "provision" && parsed.command !== "run" && parsed.command !== "service") {
    process.stderr.write(USAGE);
    return EXIT.USAGE;
  }
  try {
    const config = loadConfig(parsed.configPath, parsed.overrides);
    if (config.logLevel) log = createLogger({ level: config.logLevel });
    // A power cut in the middle of a certificate switch is repaired before anything reads the pair.
    recoverIdentity(config, readJsonSync<ThingRecord>(config.thingFile), log);
    if (parsed.command === "provision") return await runProvision(config, log);
    if (parsed.command === "service") {
      const code = await runProvision(config, log);
      if (code !== EXIT.OK || !readProvisionedThing(config)) return code;
    }
    return await runAgent(config, log);
  } catch (err) {
    if (err instanceof ConfigError) {
      log.error("configuration error", { error: err.message });
      return EXIT.CONFIG;
    }
    log.error("unexpected failure", { error: err });
    return EXIT.FAILURE;
  }
}

function onTermination(handler: (signal: string) => void): () => void {
  const listener = (signal: NodeJS.Signals): void => handler(signal);
  process.on("SIGTERM", listener);
  process.on("SIGINT", listener);
  return () => {
    process.off("SIGTERM", listener);
    process.off("SIGINT", listener);
  };
}

async function runProvision(config: ReturnType<typeof loadConfig>, log: Logger): Promise<number> {
  const abort = new AbortController();
  const off = onTermination((signal) => {
    log.info("signal received; giving up after the current attempt", { signal });
    abort.abort();
  });
  try {
    const outcome = await provision({ config, log, signal: abort.signal });
    log.info(outcome.status === "already-provisioned" ? "already provisioned" : "provisioned", { thingName: outcome.thing.thingName });
    return EXIT.OK;
  } catch (err) {
    if (err instanceof ProvisioningDeniedError) {
      log.error("provisioning denied by the registry; not retrying", { error: err.message, statusCode: err.statusCode, errorCode: err.errorCode });
      return EXIT.DENIED;
    }
    if (err instanceof TransientProvisioningError) {
      log.error("provisioning failed; will be retried by the service manager", { error: err.message });
      return abort.signal.aborted ? EXIT.OK : EXIT.TEMPFAIL;
    }
    throw err;
  } finally {
    off();
  }
}

async function runAgent(config: ReturnType<typeof loadConfig>, log: Logger): Promise<number> {
  const thing = readProvisionedThing(config);
  if (!thing) throw new ConfigError(`not provisioned: ${config.thingFile} with a matching certificate and key is missing; run "provision" first`);
  const agent = new DeviceAgent({ config, thing, log }).start();
  await new Promise<void>((resolve) => {
    const off = onTermination((signal) => {
      log.info("signal received; shutting down", { signal });
      off();
      resolve();
    });
  });
  await agent.stop();
  return EXIT.OK;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exit(EXIT.FAILURE);
    },
  );
}
