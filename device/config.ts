/**
 * Device configuration: a JSON file (see `device/config.example.json`) with command-line overrides.
 * Relative paths in the file are resolved against the file's directory.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";

/** Default location of the config file on the Pi. */
export const DEFAULT_CONFIG_PATH = "/etc/smart-home-device/config.json";

/** Thing names / serial numbers, as in docs/contracts.md. */
export const SERIAL_NUMBER_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{3,63}$/;

const backoffSchema = z.object({
  /** First retry delay. */
  baseMs: z.number().int().min(1).default(1000),
  /** Cap on the delay between attempts. */
  maxMs: z.number().int().min(1).default(60_000),
});

const configSchema = z
  .object({
    /** AWS IoT data endpoint (`xxxx-ats.iot.<region>.amazonaws.com`) or the local broker host. */
    endpoint: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(8883),
    /** Trust anchor for the endpoint (AmazonRootCA1.pem on AWS). */
    caFile: z.string().min(1),
    /** Device certificate and key, written by `provision`. */
    certFile: z.string().min(1).optional(),
    keyFile: z.string().min(1).optional(),
    /** Claim (bootstrap) certificate and key put on the SD card. */
    claimCertFile: z.string().min(1),
    claimKeyFile: z.string().min(1),
    /** Endpoint used only for provisioning. @default endpoint / port */
    provisioningEndpoint: z.string().min(1).optional(),
    provisioningPort: z.number().int().min(1).max(65535).optional(),
    /** Fixed serial number; otherwise read from `serialFile` (`Serial : ...` line of /proc/cpuinfo). */
    serialNumber: z.string().regex(SERIAL_NUMBER_RE, "4-64 chars [A-Za-z0-9_-], starting with a letter or digit").optional(),
    serialFile: z.string().min(1).default("/proc/cpuinfo"),
    deviceType: z.string().min(1),
    /** Fleet provisioning template name. */
    templateName: z.string().min(1),
    /** Where the device keeps its certificate, key, thing record, outbox journal, state and firmware. */
    dataDir: z.string().min(1).default("/var/lib/smart-home-device"),
    telemetryIntervalSeconds: z.number().min(0).default(60),
    /** argv of the firmware installer; the downloaded file's path is appended. Never run through a shell. */
    installCommand: z.array(z.string().min(1)).min(1).default(["/usr/local/lib/smart-home-device/install-firmware"]),
    /** argv run after an install until it exits 0 (FIRMWARE_VERSION set); absent: no health check. */
    healthCheckCommand: z.array(z.string().min(1)).min(1).optional(),
    healthCheckTimeoutSeconds: z.number().int().min(1).default(120),
    healthCheckIntervalSeconds: z.number().min(0).default(5),
    /** argv that restores the previous firmware (A/B boot); absent: the retained previous image is reinstalled. */
    rollbackCommand: z.array(z.string().min(1)).min(1).optional(),
    /** Firmware version reported until an OTA job installs another. */
    firmwareVersion: z.string().min(1).default("0.0.0"),
    maxFirmwareBytes: z
      .number()
      .int()
      .min(1)
      .default(256 * 1024 * 1024),
    /** CommonJS modules that add command handlers (see device/README.md). */
    handlerModules: z.array(z.string().min(1)).default([]),
    /** CommonJS modules whose readings join each telemetry message's metrics (see device/sensors.ts). */
    sensorModules: z.array(z.string().min(1)).default([]),
    /** Settings handed to every sensor module (e.g. its bus address or, in the twin, the simulated room). */
    sensorSettings: z.record(z.string(), z.unknown()).default({}),
    commandTimeoutMs: z.number().int().min(1).default(30_000),
    keepAliveSeconds: z.number().int().min(5).max(1200).default(60),
    /** How long the broker keeps our session (subscriptions, queued commands) while we are away. */
    sessionExpirySeconds: z.number().int().min(0).default(3600),
    /** MQTT reconnect backoff (aws-crt, decorrelated jitter). */
    reconnect: z
      .object({
        minDelayMs: z.number().int().min(1).default(1000),
        maxDelayMs: z.number().int().min(1).default(60_000),
        /** Connected this long => the next reconnect starts from minDelayMs again. */
        resetAfterMs: z.number().int().min(0).default(30_000),
      })
      .prefault({}),
    provisioning: z
      .object({
        /** Attempts before `provision` gives up with exit code 75 (systemd restarts the unit). */
        maxAttempts: z.number().int().min(1).default(8),
        /** Time allowed for one attempt: connect, CreateCertificateFromCsr, RegisterThing. */
        attemptTimeoutMs: z.number().int().min(1).default(30_000),
        backoff: backoffSchema.prefault({}),
        /**
         * File holding this device's provisioning token (written onto the SD card by CI, whose SHA-256
         * was registered with the serial). Sent as `ProvisioningToken`. Absent: no token.
         */
        tokenFile: z.string().min(1).optional(),
      })
      .prefault({}),
    /** Certificate rotation over the device's own connection (device/rotation.ts). */
    certificateRotation: z
      .object({
        /** The rotation provisioning template (the fleet stack's `rotation-template-name`). Absent: rotation is off. */
        templateName: z.string().min(1).optional(),
        /** Rotate when the certificate is this old (by its notBefore); 0: only on a command or job. */
        maxAgeDays: z.number().min(0).default(365),
        /** How often the age is checked while connected. */
        checkIntervalSeconds: z.number().min(1).default(3600),
        /** Failed connection attempts with a new certificate before the agent goes back to the previous one. */
        fallbackAfterFailures: z.number().int().min(1).default(3),
      })
      .prefault({}),
    /** Entries kept in the outgoing journal before the oldest are dropped. */
    outboxMaxEntries: z.number().int().min(1).default(10_000),
    logLevel: z.enum(["debug", "info", "warn", "error"]).optional(),
  })
  .strict()
  .refine((c) => c.reconnect.minDelayMs <= c.reconnect.maxDelayMs, {
    message: "reconnect.minDelayMs must not exceed reconnect.maxDelayMs",
  });

export type DeviceConfigInput = z.input<typeof configSchema>;

/** Validated configuration with every default filled in and every path absolute. */
export interface DeviceConfig extends Omit<z.output<typeof configSchema>, "certFile" | "keyFile" | "provisioningEndpoint" | "provisioningPort"> {
  readonly certFile: string;
  readonly keyFile: string;
  readonly provisioningEndpoint: string;
  readonly provisioningPort: number;
  /** `<dataDir>/thing.json`: written last by `provision`; its presence means "provisioned". */
  readonly thingFile: string;
}

/** A configuration problem (exit code 78). */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

const PATH_KEYS = ["caFile", "certFile", "keyFile", "claimCertFile", "claimKeyFile", "serialFile", "dataDir"] as const;

/** Validate raw settings; relative paths resolve against `baseDir`. */
export function resolveConfig(raw: unknown, baseDir = process.cwd()): DeviceConfig {
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(`invalid device configuration:\n${z.prettifyError(parsed.error)}`);
  const c = { ...parsed.data };
  for (const key of PATH_KEYS) {
    const value = c[key];
    if (typeof value === "string") (c as Record<string, unknown>)[key] = path.resolve(baseDir, value);
  }
  c.handlerModules = c.handlerModules.map((m) => path.resolve(baseDir, m));
  c.sensorModules = c.sensorModules.map((m) => path.resolve(baseDir, m));
  if (c.provisioning.tokenFile) c.provisioning = { ...c.provisioning, tokenFile: path.resolve(baseDir, c.provisioning.tokenFile) };
  const dataDir = c.dataDir;
  return {
    ...c,
    certFile: c.certFile ?? path.join(dataDir, "device.cert.pem"),
    keyFile: c.keyFile ?? path.join(dataDir, "device.key.pem"),
    provisioningEndpoint: c.provisioningEndpoint ?? c.endpoint,
    provisioningPort: c.provisioningPort ?? c.port,
    thingFile: path.join(dataDir, "thing.json"),
  };
}

/** Read a config file and apply overrides (already in config-file shape, e.g. from flags). */
export function loadConfig(configPath: string | undefined, overrides: Partial<DeviceConfigInput> = {}): DeviceConfig {
  let raw: Record<string, unknown> = {};
  let baseDir = process.cwd();
  if (configPath) {
    let text: string;
    try {
      text = fs.readFileSync(configPath, "utf8");
    } catch (err) {
      throw new ConfigError(`cannot read config file ${configPath}: ${(err as Error).message}`);
    }
    try {
      raw = JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(`config file ${configPath} is not valid JSON: ${(err as Error).message}`);
    }
    baseDir = path.dirname(path.resolve(configPath));
  }
  const merged: Record<string, unknown> = { ...raw };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    if (key === "provisioning" && typeof value === "object" && value !== null) {
      // A flag sets one provisioning setting; the file's others stay.
      const fromFile = typeof raw.provisioning === "object" && raw.provisioning !== null ? raw.provisioning : {};
      merged.provisioning = { ...fromFile, ...value };
      continue;
    }
    // Flag paths are relative to the working directory, not the config file: make them absolute now.
    merged[key] = PATH_KEYS.includes(key as (typeof PATH_KEYS)[number]) && typeof value === "string" ? path.resolve(value) : value;
  }
  return resolveConfig(merged, baseDir);
}

/** Longest token accepted (the pre-provisioning hook's limit). */
export const PROVISIONING_TOKEN_MAX_LENGTH = 512;

/**
 * The device's provisioning token from `provisioning.tokenFile` (surrounding whitespace removed), or
 * undefined when no file is named. A named file that is missing, unreadable or empty is a
 * configuration error: provisioning without the token would only be denied.
 */
export function readProvisioningToken(config: Pick<DeviceConfig, "provisioning">): string | undefined {
  const file = config.provisioning.tokenFile;
  if (!file) return undefined;
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(`provisioning.tokenFile ${file} cannot be read: ${(err as Error).message}`);
  }
  const token = text.trim();
  if (token.length === 0) throw new ConfigError(`provisioning.tokenFile ${file} is empty`);
  if (token.length > PROVISIONING_TOKEN_MAX_LENGTH || /\s/.test(token)) {
    throw new ConfigError(`provisioning.tokenFile ${file} must hold one token of at most ${PROVISIONING_TOKEN_MAX_LENGTH} characters without whitespace`);
  }
  return token;
}
