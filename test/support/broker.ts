/**
 * Test fixtures for the device client: the twin's AWS IoT Core stand-ins (identity plane loaded with the
 * synthesized `dev` stacks, MQTT front end with mutual TLS, mosquitto behind it), claim credentials on
 * disk, an observer with the twin-service identity, device configs, and a way to run the real CLI as a
 * child process. No timed assertions: everything waits for a condition with a bounded timeout.
 */
import { ChildProcess, spawn } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadConfig } from "../../config";
import { DeviceConfig, DeviceConfigInput, resolveConfig } from "../../device/config";
import { Logger, createLogger } from "../../device/log";
import { ThingRecord } from "../../device/provision";
import { resourceNames } from "../../stacks/shared/naming";
import { MqttTestClient } from "../../local/broker";
import { MosquittoBackend } from "../../local/iot-core/backend";
import { LocalIdentityPlane, PreProvisioningHook, PreProvisioningHookEvent } from "../../local/iot-core/identity-plane";
import type { BasicIngestMessage } from "../../local/iot-core/basic-ingest";
import { MqttFrontend } from "../../local/iot-core/mqtt-frontend";
import { CLAIM_IDENTITY, TWIN_SERVICE_IDENTITY } from "../../local/iot-core/stack-identities";
import { SynthesizedIot, synthesizeIot } from "../../local/iot-core/synthesized-iot";
import type { LifecycleEvent } from "../../local/lifecycle";
import { IssuedCertificate, LocalCa, PemFilePaths, writePemFiles } from "../../local/pki";

export const REPO_ROOT = path.resolve(__dirname, "..", "..");

/** Poll `probe` until it returns a truthy value; reject after `timeoutMs` with `description`. */
export async function waitFor<T>(
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  description: string,
  timeoutMs = 20_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}${lastError ? ` (last error: ${String(lastError)})` : ""}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface ReceivedMessage {
  readonly topic: string;
  readonly text: string;
  /** Parsed JSON, or undefined when the payload is not JSON. */
  readonly json: any;
}

/** A service-identity client that records every message on the topics it subscribed to. */
export class Observer {
  readonly messages: ReceivedMessage[] = [];

  constructor(readonly client: MqttTestClient) {
    client.onMessage((topic, payload) => {
      const text = payload.toString("utf8");
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      this.messages.push({ topic, text, json });
    });
  }

  on(topic: string): ReceivedMessage[] {
    return this.messages.filter((m) => m.topic === topic);
  }

  /** Wait for a message on `topic` matching `predicate`. */
  waitForMessage(topic: string, predicate: (m: ReceivedMessage) => boolean = () => true, timeoutMs = 20_000): Promise<ReceivedMessage> {
    return waitFor(() => this.messages.find((m) => m.topic === topic && predicate(m)), `a message on ${topic}`, timeoutMs);
  }

  publish(topic: string, body: unknown): Promise<void> {
    return this.client.publish(topic, typeof body === "string" ? body : JSON.stringify(body));
  }
}

/** The names of the synthesized `dev` stacks the test endpoint enforces (template, policies). */
export const DEV_NAMES = resourceNames(loadConfig("dev"));

let synthesized: SynthesizedIot | undefined;
/** One synthesis per test file. */
function devIot(): SynthesizedIot {
  synthesized ??= synthesizeIot("dev");
  return synthesized;
}

/** `iot` with a `DeviceConfiguration` added to every provisioning template (as a template may have on AWS). */
function withDeviceConfiguration(iot: SynthesizedIot, deviceConfiguration: Readonly<Record<string, string>>): SynthesizedIot {
  const provisioningTemplates = new Map(
    [...iot.provisioningTemplates].map(([name, t]) => [
      name,
      { ...t, templateBody: JSON.stringify({ ...JSON.parse(t.templateBody), DeviceConfiguration: deviceConfiguration }) },
    ]),
  );
  return { ...iot, provisioningTemplates };
}

export interface TestEnvOptions {
  /** The template's pre-provisioning hook. @default allow every request */
  readonly preProvisioningHook?: PreProvisioningHook;
  /** `DeviceConfiguration` of the provisioning template. @default none */
  readonly deviceConfiguration?: Readonly<Record<string, string>>;
  /** How long RegisterThing waits for the hook. @default 5000 (AWS's limit) */
  readonly hookTimeoutMs?: number;
  readonly verbose?: boolean;
}

export interface TestEnv {
  readonly dir: string;
  readonly ca: LocalCa;
  readonly plane: LocalIdentityPlane;
  /** The IoT endpoint devices connect to (a new one after {@link TestEnv.startEndpoint}). */
  readonly frontend: MqttFrontend;
  /** The mosquitto behind the endpoint: stopping it alone keeps the connections to the endpoint. */
  readonly backend: MosquittoBackend;
  /** An endpoint outage as a device sees it: every connection closed, nothing listening, mosquitto stopped. */
  stopEndpoint(): Promise<void>;
  /** The endpoint back on the same port, mosquitto's persisted sessions included. */
  startEndpoint(): Promise<void>;
  readonly endpoint: { readonly host: string; readonly port: number; readonly caFile: string };
  readonly templateName: string;
  readonly claim: IssuedCertificate & PemFilePaths;
  /** Every pre-provisioning hook call, in order. */
  readonly hookEvents: PreProvisioningHookEvent[];
  /** Every lifecycle event of the endpoint, in order. */
  readonly lifecycle: LifecycleEvent[];
  /** Every Basic Ingest PUBLISH the endpoint accepted (`$aws/rules/<rule>/...`; no subscriber sees them), in order. */
  readonly basicIngest: BasicIngestMessage[];
  /** Twin-service client subscribed to `devices/+/...` with a persistent session. */
  readonly observer: Observer;
  /** Connect with a stack identity (`CLAIM_IDENTITY`, `CONTROLLER_IDENTITY`, `TWIN_SERVICE_IDENTITY`). */
  connectAs(identity: string, clientId: string, sessionExpirySeconds?: number): Promise<MqttTestClient>;
  /** Register a thing with a new ACTIVE certificate (as RegisterThing leaves it) and connect as it. */
  connectThing(thingName: string): Promise<MqttTestClient>;
  /** Resolve once `clientId` is connected to the endpoint. */
  waitForClient(clientId: string, timeoutMs?: number): Promise<void>;
  /** Files and config of a device that is already provisioned (certificate issued by the CA, registered as RegisterThing would). */
  provisionedDevice(serialNumber: string, overrides?: Partial<DeviceConfigInput>): Promise<{ config: DeviceConfig; thing: ThingRecord; configPath: string }>;
  /** Config (and config.json) of a fresh device with the claim certificate. */
  freshDevice(name: string, overrides?: Partial<DeviceConfigInput>): Promise<{ config: DeviceConfig; configPath: string }>;
  close(): Promise<void>;
}

export async function createTestEnv(options: TestEnvOptions = {}): Promise<TestEnv> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "device-test-"));
  const ca = await LocalCa.create({ commonName: "device test CA" });
  const caFile = path.join(dir, "ca.cert.pem");
  await fs.writeFile(caFile, ca.certPem);
  const hookEvents: PreProvisioningHookEvent[] = [];
  const hook = options.preProvisioningHook ?? (() => ({ allowProvisioning: true }));
  const iot = options.deviceConfiguration ? withDeviceConfiguration(devIot(), options.deviceConfiguration) : devIot();
  const plane = await LocalIdentityPlane.start({
    workDir: path.join(dir, "iot"),
    ca,
    iot,
    hookTimeoutMs: options.hookTimeoutMs,
    preProvisioningHook: (event) => {
      hookEvents.push(event);
      return hook(event);
    },
  });
  const backend = await MosquittoBackend.start({ dir: path.join(dir, "backend"), verbose: options.verbose });
  const lifecycle: LifecycleEvent[] = [];
  const basicIngest: BasicIngestMessage[] = [];
  const startFrontend = async (port?: number): Promise<MqttFrontend> => {
    const started = await MqttFrontend.start({ ca, plane, backend, port });
    started.on("lifecycle", (e) => lifecycle.push(e));
    started.on("basic-ingest", (m) => basicIngest.push(m));
    return started;
  };
  let frontend = await startFrontend();
  const port = frontend.port;
  const templateName = DEV_NAMES.provisioningTemplate;
  const claimCert = plane.stackIdentities.get(CLAIM_IDENTITY)!;
  const claimPaths = await writePemFiles(path.join(dir, "claim"), "claim", claimCert);
  const clients: MqttTestClient[] = [];
  const connectWith = async (credentials: IssuedCertificate, clientId: string, sessionExpirySeconds?: number): Promise<MqttTestClient> => {
    const client = await MqttTestClient.connect({ host: frontend.host, port, caPem: ca.certPem, credentials, clientId, sessionExpirySeconds });
    clients.push(client);
    return client;
  };
  const connectAs = (identity: string, clientId: string, sessionExpirySeconds?: number): Promise<MqttTestClient> => {
    const credentials = plane.stackIdentities.get(identity);
    if (!credentials) throw new Error(`no stack identity ${identity}`);
    return connectWith(credentials, clientId, sessionExpirySeconds);
  };
  /** What RegisterThing leaves behind: the thing, its ACTIVE certificate attached to it and the device policy. */
  const registerThing = async (thingName: string): Promise<IssuedCertificate> => {
    const issued = await ca.issueClientCertificate(thingName);
    const certificate = plane.registry.addCertificate(issued.certPem, "ACTIVE");
    if (!plane.registry.getThing(thingName)) plane.registry.putThing({ thingName });
    plane.registry.attachThingPrincipal(thingName, certificate.certificateArn);
    plane.registry.attachPolicy(DEV_NAMES.devicePolicy, certificate.certificateArn);
    return issued;
  };
  const observer = new Observer(await connectAs(TWIN_SERVICE_IDENTITY, `${TWIN_SERVICE_IDENTITY}-observer`, 3600));
  await observer.client.subscribe(["devices/+/responses", "devices/+/errors", "devices/+/telemetry"]);

  const baseConfig = (dataDir: string): DeviceConfigInput => ({
    endpoint: frontend.host,
    port,
    caFile,
    claimCertFile: claimPaths.certPath,
    claimKeyFile: claimPaths.keyPath,
    deviceType: "thermostat",
    templateName,
    dataDir,
    telemetryIntervalSeconds: 0,
    reconnect: { minDelayMs: 100, maxDelayMs: 1000, resetAfterMs: 1000 },
    provisioning: { maxAttempts: 3, attemptTimeoutMs: 15_000, backoff: { baseMs: 100, maxMs: 500 } },
    installCommand: ["/bin/false"],
  });
  const writeConfig = async (name: string, input: DeviceConfigInput): Promise<{ config: DeviceConfig; configPath: string }> => {
    const configPath = path.join(dir, name, "config.json");
    await fs.mkdir(path.dirname(configPath), { recursive: true });
    await fs.writeFile(configPath, JSON.stringify(input, null, 2));
    return { config: resolveConfig(input), configPath };
  };

  return {
    dir,
    ca,
    plane,
    get frontend() {
      return frontend;
    },
    backend,
    async stopEndpoint() {
      await frontend.close();
      await backend.stop();
    },
    async startEndpoint() {
      await backend.start();
      frontend = await startFrontend(port);
    },
    endpoint: { host: frontend.host, port, caFile },
    templateName,
    claim: { ...claimCert, ...claimPaths },
    hookEvents,
    lifecycle,
    basicIngest,
    observer,
    connectAs,
    async connectThing(thingName) {
      return connectWith(await registerThing(thingName), thingName);
    },
    async waitForClient(clientId, timeoutMs = 15_000) {
      await waitFor(() => frontend.connections().some((c) => c.clientId === clientId), `${clientId} connected to the endpoint`, timeoutMs);
    },
    async provisionedDevice(serialNumber, overrides = {}) {
      const dataDir = path.join(dir, serialNumber, "data");
      await fs.mkdir(dataDir, { recursive: true });
      const issued = await registerThing(serialNumber);
      await fs.writeFile(path.join(dataDir, "device.cert.pem"), issued.certPem, { mode: 0o600 });
      await fs.writeFile(path.join(dataDir, "device.key.pem"), issued.keyPem, { mode: 0o600 });
      const thing: ThingRecord = {
        thingName: serialNumber,
        serialNumber,
        deviceType: "thermostat",
        certificateId: issued.certificateId,
        // What the synthesized provisioning template answers (the store rule, for Basic Ingest).
        deviceConfiguration: { TelemetryRuleName: DEV_NAMES.telemetryStoreRule },
        provisionedAt: new Date().toISOString(),
      };
      await fs.writeFile(path.join(dataDir, "thing.json"), JSON.stringify(thing));
      const { config, configPath } = await writeConfig(serialNumber, { ...baseConfig(dataDir), serialNumber, ...overrides });
      return { config, thing, configPath };
    },
    async freshDevice(name, overrides = {}) {
      return writeConfig(name, { ...baseConfig(path.join(dir, name, "data")), ...overrides });
    },
    async close() {
      await Promise.all(clients.splice(0).map((c) => c.close()));
      await frontend.close().catch(() => undefined);
      await backend.close();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

/** A logger that keeps lines in memory (printed by tests only when they need to explain a failure). */
export function memoryLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger({ level: "debug", write: (l) => lines.push(l) }), lines };
}

/** The real CLI (`tsx device/cli.ts`) as a child process. */
export class DeviceProcess {
  readonly lines: string[] = [];
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;

  constructor(args: string[], env: NodeJS.ProcessEnv = {}) {
    // One process (not the tsx CLI, which runs the script in a grandchild that SIGKILL would not reach).
    this.child = spawn(process.execPath, ["--import", "tsx", path.join(REPO_ROOT, "device", "cli.ts"), ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, LOG_LEVEL: "debug", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let buffer = "";
    const onData = (chunk: Buffer): void => {
      buffer += chunk.toString("utf8");
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        this.lines.push(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
      }
    };
    this.child.stdout!.on("data", onData);
    this.child.stderr!.on("data", onData);
    this.exited = new Promise((resolve) => this.child.once("exit", (code, signal) => resolve(code ?? (signal ? -1 : null))));
  }

  /** Parsed JSON log records. */
  logs(): Array<Record<string, unknown>> {
    return this.lines.flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }

  waitForLog(msg: string, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    return waitFor(() => this.logs().find((r) => r.msg === msg), `device log "${msg}"\n${this.lines.slice(-30).join("\n")}`, timeoutMs);
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Exit code within `timeoutMs` (SIGKILL and reject otherwise). */
  async exitCode(timeoutMs = 60_000): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.child.kill("SIGKILL");
        reject(new Error(`device process did not exit within ${timeoutMs} ms:\n${this.lines.slice(-40).join("\n")}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
