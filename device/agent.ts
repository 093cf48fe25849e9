/**
 * `run`: the provisioned device at work.
 *
 * Connects as the thing (client id = thing name) with the device certificate, subscribes to
 * `devices/<thing>/commands` and the jobs topics, dispatches commands to the {@link CommandRegistry},
 * publishes results to `devices/<thing>/responses` and failures to `devices/<thing>/errors` (QoS 1,
 * through the durable {@link Outbox}), publishes telemetry, runs OTA jobs, and shuts down cleanly.
 */
import { EventEmitter } from "node:events";
import * as path from "node:path";
import { mqtt5 } from "aws-iot-device-sdk-v2";
import { CommandContext, CommandError, CommandRegistry, DeviceState, loadHandlerModules, registerBuiltins, systemStatus } from "./commands";
import { DeviceConfig } from "./config";
import { readJsonSync, writeFileAtomicSync } from "./files";
import { JobsAgent } from "./jobs";
import { DeviceShadow } from "./shadow";
import { Logger, createLogger } from "./log";
import { createMqttClient, isPubackFailure, payloadText, shutdownMqttClient } from "./mqtt";
import { Outbox, OutboxEntry } from "./outbox";
import { ThingRecord } from "./provision";
import { loadSensorModules, readSensors } from "./sensors";
import type { IdentityPaths } from "./identity-files";
import { RotationSession } from "./agent-rotation";
import { ExchangeAnswer, MqttExchange } from "./mqtt-exchange";
import { PI_METRIC_NAMES, collectMetrics } from "./telemetry";

/** Messages handed to the SDK at once; the rest wait in the journal. */
const PUBLISH_WINDOW = 16;
/** Correlation ids remembered to drop QoS 1 redeliveries of a command. */
const SEEN_COMMAND_IDS = 512;
const RESERVED_METRICS: ReadonlySet<string> = new Set(PI_METRIC_NAMES);

export interface DeviceAgentOptions {
  readonly config: DeviceConfig;
  readonly thing: ThingRecord;
  /** @default JSON logger on stdout */
  readonly log?: Logger;
  /** Extra handlers on top of the built-ins and `handlerModules`. */
  readonly configure?: (registry: CommandRegistry) => void;
}

/** Error codes on `devices/<thing>/errors`. */
export type DeviceErrorCode = "BAD_PAYLOAD" | "UNKNOWN_COMMAND" | "HANDLER_ERROR" | "TIMEOUT" | string;

/** The events of {@link DeviceAgent} and their listener arguments. */
export interface DeviceAgentEvents {
  connected: [info: { sessionPresent: boolean }];
  disconnected: [info: { error: string }];
  /** The command and jobs subscriptions of the current connection are in place. */
  subscribed: [];
  /** A queued message was acknowledged by the broker and left the journal. */
  delivered: [entry: OutboxEntry];
  queued: [entry: OutboxEntry];
}

export class DeviceAgent extends EventEmitter<DeviceAgentEvents> {
  readonly thingName: string;
  readonly registry: CommandRegistry;
  readonly outbox: Outbox;
  readonly state: DeviceState;
  private readonly log: Logger;
  private client: mqtt5.Mqtt5Client;
  private readonly rotation: RotationSession;
  private readonly jobs: JobsAgent;
  private readonly shadow: DeviceShadow;
  private readonly topics: { commands: string; responses: string; errors: string; telemetry: string };
  private readonly inflight = new Set<number>();
  private readonly running = new Set<Promise<void>>();
  private readonly seen: string[] = [];
  private readonly sensors: ReturnType<typeof loadSensorModules>;
  private readonly shutdown = new AbortController();
  private telemetryTimer?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  private isConnected = false;
  private isSubscribed = false;
  private stopping?: Promise<void>;
  private firmwareVersion: string;

  constructor(private readonly options: DeviceAgentOptions) {
    super();
    const { config, thing } = options;
    this.thingName = thing.thingName;
    this.log = (options.log ?? createLogger({ level: config.logLevel })).child({ thingName: this.thingName });
    const base = `devices/${this.thingName}`;
    this.topics = { commands: `${base}/commands`, responses: `${base}/responses`, errors: `${base}/errors`, telemetry: `${base}/telemetry` };
    this.state = new DeviceState(path.join(config.dataDir, "state.json"));
    this.firmwareVersion = readJsonSync<{ version: string }>(path.join(config.dataDir, "firmware.json"))?.version ?? config.firmwareVersion;

    this.registry = registerBuiltins(new CommandRegistry());
    loadHandlerModules(this.registry, config.handlerModules, this.log);
    options.configure?.(this.registry);
    this.sensors = loadSensorModules(config.sensorModules, { thingName: this.thingName, deviceType: config.deviceType, settings: config.sensorSettings }, this.log.child({ component: "sensors" }));

    this.outbox = new Outbox(config.dataDir, {
      maxEntries: config.outboxMaxEntries,
      onDrop: (e) => this.log.error("outbox full; dropped the oldest message", { topic: e.topic, seq: e.seq }),
    });
    if (this.outbox.size > 0) this.log.info("undelivered messages from a previous run", { count: this.outbox.size });

    this.jobs = new JobsAgent({
      thingName: this.thingName,
      dataDir: config.dataDir,
      installCommand: config.installCommand,
      healthCheckCommand: config.healthCheckCommand,
      healthCheckTimeoutMs: config.healthCheckTimeoutSeconds * 1000,
      healthCheckIntervalMs: config.healthCheckIntervalSeconds * 1000,
      rollbackCommand: config.rollbackCommand,
      currentVersion: () => this.firmwareVersion,
      maxFirmwareBytes: config.maxFirmwareBytes,
      log: this.log.child({ component: "jobs" }),
      publishDurable: (topic, body) => this.enqueue(topic, body),
      publishNow: (topic, body) => this.publishNow(topic, body),
      operations: { "rotate-certificate": async () => ({ certificateId: await this.rotation.rotate("job") }) },
      onInstalled: (version) => {
        this.firmwareVersion = version;
        writeFileAtomicSync(
          path.join(config.dataDir, "firmware.json"),
          JSON.stringify({ version, installedAt: new Date().toISOString() }) + "\n",
          0o600,
        );
        this.shadow.report();
      },
    });
    this.shadow = new DeviceShadow({
      thingName: this.thingName,
      dataDir: config.dataDir,
      log: this.log.child({ component: "shadow" }),
      defaults: { telemetryIntervalSeconds: config.telemetryIntervalSeconds },
      facts: () => ({ firmwareVersion: this.firmwareVersion, deviceType: config.deviceType }),
      publish: (topic, body) => this.publishNow(topic, body),
      onSettings: () => this.scheduleTelemetry(),
    });

    this.rotation = new RotationSession({
      config,
      thing,
      log: this.log.child({ component: "rotation" }),
      exchange: (topic, body) => this.exchange(topic, body),
      switchIdentity: (identity) => this.switchIdentity(identity),
      connected: () => this.isConnected,
    });
    this.registry.register("rotate-certificate", async () => ({ certificateId: await this.rotation.rotate("command") }), {
      description: "Rotate the device certificate now (new key and CSR on the device, RegisterThing with the rotation template)",
    });
    this.client = this.createClient({ certFile: config.certFile, keyFile: config.keyFile });
  }

  /** The MQTT client for one identity; events of a replaced client are ignored. */
  private createClient(identity: IdentityPaths): mqtt5.Mqtt5Client {
    const config = this.options.config;
    const client = createMqttClient({
      host: config.endpoint,
      port: config.port,
      caFile: config.caFile,
      certFile: identity.certFile,
      keyFile: identity.keyFile,
      clientId: this.thingName,
      keepAliveSeconds: config.keepAliveSeconds,
      sessionExpirySeconds: config.sessionExpirySeconds,
      minReconnectDelayMs: config.reconnect.minDelayMs,
      maxReconnectDelayMs: config.reconnect.maxDelayMs,
      resetReconnectDelayAfterMs: config.reconnect.resetAfterMs,
    });
    const current = (): boolean => client === this.client;
    client.on("connectionSuccess", (e) => {
      if (!current()) return;
      this.rotation.onConnectionSuccess();
      this.onConnected(e.connack.sessionPresent);
    });
    client.on("connectionFailure", (e) => {
      if (!current()) return;
      this.log.warn("connection attempt failed", { error: e.error.toString() });
      this.rotation.onConnectionFailure();
    });
    client.on("disconnection", (e) => {
      if (!current()) return;
      this.isConnected = false;
      this.isSubscribed = false;
      this.log.warn("disconnected", { error: e.error.toString() });
      this.emit("disconnected", { error: e.error.toString() });
    });
    client.on("messageReceived", (e) => {
      if (current()) this.onMessage(e.message.topicName, payloadText(e.message.payload));
    });
    client.on("error", (e) => this.log.error("mqtt client error", { error: e.toString() }));
    return client;
  }

  /** Reconnect with another certificate (same client id): the old connection closes first. */
  private async switchIdentity(identity: IdentityPaths): Promise<void> {
    const old = this.client;
    this.isConnected = false;
    this.isSubscribed = false;
    this.client = this.createClient(identity);
    await shutdownMqttClient(old);
    if (!this.stopping) this.client.start();
  }

  /** Rotate the certificate now (what the `rotate-certificate` command and job do); resolves once the new one connected. */
  rotateCertificate(): Promise<string> {
    return this.rotation.rotate("command");
  }

  /** `<topic>/accepted|rejected` answers of AWS IoT's MQTT provisioning API on this connection (rotation). */
  private readonly answers = new MqttExchange();

  /** One provisioning-API request on the current connection (see MqttExchange.request). */
  exchange(topic: string, body: unknown, timeoutMs = 30_000): Promise<ExchangeAnswer> {
    return this.answers.request(this.client, topic, body, timeoutMs);
  }

  get connected(): boolean {
    return this.isConnected;
  }

  /** Connected and subscribed: commands sent now will be received. */
  get ready(): boolean {
    return this.isConnected && this.isSubscribed;
  }

  /** Start connecting (and keep reconnecting) and start telemetry. */
  start(): this {
    this.log.info("starting", { endpoint: this.options.config.endpoint, port: this.options.config.port, firmwareVersion: this.firmwareVersion });
    this.client.start();
    this.scheduleTelemetry();
    return this;
  }

  /** (Re)start the telemetry timer at the effective interval (config, or the shadow's desired value). */
  private scheduleTelemetry(): void {
    clearInterval(this.telemetryTimer);
    this.telemetryTimer = undefined;
    const seconds = this.shadow.settings.telemetryIntervalSeconds;
    if (seconds > 0 && !this.stopping) this.telemetryTimer = setInterval(() => void this.publishTelemetry(), seconds * 1000);
  }

  private async publishNow(topic: string, body: unknown): Promise<void> {
    const res = await this.client.publish({ topicName: topic, payload: JSON.stringify(body), qos: mqtt5.QoS.AtLeastOnce });
    if (isPubackFailure(res)) throw new Error(`publish to ${topic} refused (reason code ${res!.reasonCode})`);
  }

  /**
   * Clean shutdown: stop taking work, let running commands finish (bounded), flush the outbox while
   * connected (bounded), disconnect, close the journal. Undelivered messages stay in the journal.
   */
  stop(timeoutMs = 10_000): Promise<void> {
    this.stopping ??= this.doStop(timeoutMs);
    return this.stopping;
  }

  private async doStop(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    this.log.info("stopping");
    clearInterval(this.telemetryTimer);
    clearTimeout(this.retryTimer);
    this.jobs.stop();
    this.rotation.stop();
    await waitUntil(() => this.running.size === 0, Math.max(0, deadline - Date.now()) / 2);
    this.shutdown.abort();
    if (this.isConnected) {
      this.pump();
      await waitUntil(() => this.outbox.size === 0 || !this.isConnected, Math.max(0, deadline - Date.now()));
    }
    await shutdownMqttClient(this.client);
    this.isConnected = false;
    this.outbox.close();
    this.log.info("stopped", { undelivered: this.outbox.size });
  }

  /** Figures for get-status. */
  status(): Record<string, unknown> {
    return {
      thingName: this.thingName,
      firmwareVersion: this.firmwareVersion,
      connected: this.isConnected,
      queuedMessages: this.outbox.size,
      currentJobId: this.jobs.currentJobId ?? null,
      telemetryIntervalSeconds: this.shadow.settings.telemetryIntervalSeconds,
      ...systemStatus(),
    };
  }

  private onConnected(sessionPresent: boolean): void {
    this.isConnected = true;
    this.log.info("connected", { sessionPresent, queued: this.outbox.size });
    this.emit("connected", { sessionPresent });
    // Always (re)subscribe: cheap, idempotent, and covers a broker that lost our session.
    this.client
      .subscribe({
        subscriptions: [this.topics.commands, ...this.jobs.subscriptions(), ...this.shadow.subscriptions()].map((topicFilter) => ({ topicFilter, qos: mqtt5.QoS.AtLeastOnce })),
      })
      .then((suback) => {
        const refused = suback.reasonCodes.filter((c) => c >= 0x80);
        if (refused.length > 0) this.log.error("subscriptions refused", { reasonCodes: suback.reasonCodes });
        this.isSubscribed = true;
        this.log.info("subscribed", { topics: [this.topics.commands, ...this.jobs.subscriptions()] });
        this.emit("subscribed");
        this.jobs.requestNext();
        this.shadow.onConnected();
        this.rotation.onReady();
      })
      .catch((err: unknown) => this.log.warn("subscribe failed", { error: errorMessage(err) }));
    this.pump();
    this.publishTelemetry();
  }

  private onMessage(topic: string, text: string): void {
    if (this.answers.handle(topic, text)) return;
    if (topic === this.topics.commands) {
      const run = this.handleCommand(text).catch((err: unknown) => this.log.error("command dispatch failed", { error: errorMessage(err) }));
      this.running.add(run);
      void run.finally(() => this.running.delete(run));
      return;
    }
    if (this.jobs.handleMessage(topic, text)) return;
    if (this.shadow.handleMessage(topic, text)) return;
    this.log.debug("message on an unexpected topic", { topic });
  }

  private async handleCommand(text: string): Promise<void> {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      this.publishError(null, null, "BAD_PAYLOAD", "command payload is not valid JSON");
      return;
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      this.publishError(null, null, "BAD_PAYLOAD", "command payload must be a JSON object");
      return;
    }
    const { id, command, params } = body as { id?: unknown; command?: unknown; params?: unknown };
    const cid = typeof id === "string" && id.length > 0 && id.length <= 128 ? id : null;
    const name = typeof command === "string" && command.length > 0 ? command : null;
    if (!cid) return this.publishError(null, name, "BAD_PAYLOAD", "command needs an \"id\" (string, 1-128 chars)");
    if (!name) return this.publishError(cid, null, "BAD_PAYLOAD", "command needs a \"command\" name");
    if (params !== undefined && (typeof params !== "object" || params === null || Array.isArray(params))) {
      return this.publishError(cid, name, "BAD_PAYLOAD", "\"params\" must be a JSON object");
    }
    if (this.seen.includes(cid)) {
      this.log.info("duplicate command ignored", { id: cid, command: name });
      return;
    }
    this.seen.push(cid);
    if (this.seen.length > SEEN_COMMAND_IDS) this.seen.shift();

    const handler = this.registry.get(name);
    if (!handler) return this.publishError(cid, name, "UNKNOWN_COMMAND", `unknown command "${name}"`);
    const log = this.log.child({ id: cid, command: name });
    const timeout = new AbortController();
    const onShutdown = (): void => timeout.abort();
    this.shutdown.signal.addEventListener("abort", onShutdown, { once: true });
    const ctx: CommandContext = {
      thingName: this.thingName,
      id: cid,
      log,
      state: this.state,
      signal: timeout.signal,
      status: () => this.status(),
    };
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        Promise.resolve().then(() => handler((params as Record<string, unknown> | undefined) ?? {}, ctx)),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            timeout.abort();
            reject(new CommandError("TIMEOUT", `handler did not finish within ${this.options.config.commandTimeoutMs} ms`));
          }, this.options.config.commandTimeoutMs);
        }),
      ]);
      this.enqueue(this.topics.responses, {
        id: cid,
        command: name,
        status: "ok",
        result: result === undefined ? {} : result,
        thingName: this.thingName,
        completedAt: new Date().toISOString(),
      });
      log.info("command handled");
    } catch (err) {
      // CommandError, or (from plain-JS handler modules) any Error named "CommandError" with a string code.
      const named = err instanceof Error && err.name === "CommandError" && typeof (err as { code?: unknown }).code === "string";
      const code = err instanceof CommandError || named ? (err as CommandError).code : "HANDLER_ERROR";
      log.warn("command failed", { code, error: errorMessage(err) });
      this.publishError(cid, name, code, errorMessage(err));
    } finally {
      clearTimeout(timer);
      this.shutdown.signal.removeEventListener("abort", onShutdown);
    }
  }

  private publishError(id: string | null, command: string | null, code: DeviceErrorCode, message: string): void {
    this.enqueue(this.topics.errors, { id, command, code, message, thingName: this.thingName, at: new Date().toISOString() });
  }

  /** Queue durably, then try to send. */
  private enqueue(topic: string, body: unknown): void {
    const entry = this.outbox.enqueue(topic, JSON.stringify(body));
    this.emit("queued", entry);
    this.pump();
  }

  /** Hand pending journal entries to the SDK, at most PUBLISH_WINDOW at a time. */
  private pump(): void {
    if (!this.isConnected) return;
    for (const entry of this.outbox.values()) {
      if (this.inflight.size >= PUBLISH_WINDOW) break;
      if (this.inflight.has(entry.seq)) continue;
      this.inflight.add(entry.seq);
      this.client.publish({ topicName: entry.topic, payload: entry.payload, qos: mqtt5.QoS.AtLeastOnce }).then(
        (result) => {
          this.inflight.delete(entry.seq);
          if (isPubackFailure(result)) {
            // Retrying cannot help (e.g. not authorised): drop it rather than block the queue forever.
            this.log.error("broker refused a queued message; dropping it", { topic: entry.topic, reasonCode: result!.reasonCode });
          }
          this.outbox.ack(entry.seq);
          this.emit("delivered", entry);
          this.pump();
        },
        (err: unknown) => {
          this.inflight.delete(entry.seq);
          if (this.stopping) return;
          this.log.warn("publish failed; will retry", { topic: entry.topic, seq: entry.seq, error: errorMessage(err) });
          clearTimeout(this.retryTimer);
          this.retryTimer = setTimeout(() => this.pump(), 1000);
        },
      );
    }
  }

  private async publishTelemetry(): Promise<void> {
    if (!this.isConnected || this.stopping) return;
    const own = { ...collectMetrics(this.options.config.dataDir), queuedMessages: this.outbox.size };
    // The Pi's own metrics keep their names; sensors add theirs beside them.
    const readings = this.sensors.length > 0 ? await readSensors(this.sensors, RESERVED_METRICS, this.log) : {};
    if (!this.isConnected || this.stopping) return;
    const body = { thingName: this.thingName, ts: new Date().toISOString(), metrics: { ...readings, ...own } };
    this.client
      .publish({ topicName: this.topics.telemetry, payload: JSON.stringify(body), qos: mqtt5.QoS.AtLeastOnce })
      .catch((err: unknown) => this.log.debug("telemetry not sent", { error: errorMessage(err) }));
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function waitUntil(predicate: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
}
