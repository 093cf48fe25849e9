/**
 * `run`: the provisioned device at work.
 *
 * Connects as the thing with the device certificate (device/thing-connection.ts), subscribes to
 * `devices/<thing>/commands`, the jobs and the shadow topics, routes each message to its part, and shuts
 * down cleanly. The parts: commands (device/command-dispatch.ts) answer on `devices/<thing>/responses` and
 * `devices/<thing>/errors` through the durable outbox (device/outbox-publisher.ts); telemetry
 * (device/telemetry-publisher.ts); OTA jobs (device/jobs.ts); the shadow (device/shadow.ts); certificate
 * rotation (device/agent-rotation.ts), which switches the connection to the new certificate.
 */
import { EventEmitter } from "node:events";
import * as path from "node:path";
import { mqtt5 } from "aws-iot-device-sdk-v2";
import { CommandRegistry, DeviceState, loadHandlerModules, registerBuiltins, systemStatus } from "./commands";
import { CommandDispatcher } from "./command-dispatch";
import { DeviceConfig } from "./config";
import { readJsonSync, writeFileAtomicSync } from "./files";
import { JobsAgent } from "./jobs";
import { DeviceShadow } from "./shadow";
import { Logger, createLogger, errorMessage } from "./log";
import { publishJson } from "./mqtt";
import { Outbox, OutboxEntry } from "./outbox";
import { OutboxPublisher } from "./outbox-publisher";
import { ThingRecord } from "./provision";
import type { IdentityPaths } from "./identity-files";
import { RotationSession } from "./agent-rotation";
import { ExchangeAnswer } from "./mqtt-exchange";
import { TelemetryPublisher } from "./telemetry-publisher";
import { telemetryTopic } from "./device-configuration";
import { ThingConnection } from "./thing-connection";

export interface DeviceAgentOptions {
  readonly config: DeviceConfig;
  readonly thing: ThingRecord;
  /** @default JSON logger on stdout */
  readonly log?: Logger;
  /** Extra handlers on top of the built-ins and `handlerModules`. */
  readonly configure?: (registry: CommandRegistry) => void;
}

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
  private readonly connection: ThingConnection;
  private readonly rotation: RotationSession;
  private readonly jobs: JobsAgent;
  private readonly shadow: DeviceShadow;
  private readonly commandsTopic: string;
  private readonly commands: CommandDispatcher;
  private readonly publisher: OutboxPublisher;
  private readonly telemetry: TelemetryPublisher;
  private isSubscribed = false;
  private stopping?: Promise<void>;
  private firmwareVersion: string;

  constructor(private readonly options: DeviceAgentOptions) {
    super();
    const { config, thing } = options;
    this.thingName = thing.thingName;
    this.log = (options.log ?? createLogger({ level: config.logLevel })).child({ thingName: this.thingName });
    const base = `devices/${this.thingName}`;
    this.commandsTopic = `${base}/commands`;
    this.state = new DeviceState(path.join(config.dataDir, "state.json"));
    this.firmwareVersion = readJsonSync<{ version: string }>(path.join(config.dataDir, "firmware.json"))?.version ?? config.firmwareVersion;

    this.registry = registerBuiltins(new CommandRegistry());
    loadHandlerModules(this.registry, config.handlerModules, this.log);
    options.configure?.(this.registry);
    const connected = (): boolean => this.connection.connected;
    const client = (): mqtt5.Mqtt5Client => this.connection.client;
    this.telemetry = new TelemetryPublisher({
      config,
      thingName: this.thingName,
      topic: () => telemetryTopic(this.thingName, this.rotation.deviceConfiguration),
      log: this.log,
      client,
      connected,
      queuedMessages: () => this.outbox.size,
    });

    this.outbox = new Outbox(config.dataDir, {
      maxEntries: config.outboxMaxEntries,
      onDrop: (e) => this.log.error("outbox full; dropped the oldest message", { topic: e.topic, seq: e.seq }),
    });
    if (this.outbox.size > 0) this.log.info("undelivered messages from a previous run", { count: this.outbox.size });
    this.publisher = new OutboxPublisher({
      outbox: this.outbox,
      client,
      connected,
      log: this.log,
      onQueued: (entry) => this.emit("queued", entry),
      onDelivered: (entry) => this.emit("delivered", entry),
    });
    this.commands = new CommandDispatcher({
      thingName: this.thingName,
      registry: this.registry,
      state: this.state,
      log: this.log,
      commandTimeoutMs: config.commandTimeoutMs,
      topics: { responses: `${base}/responses`, errors: `${base}/errors` },
      status: () => this.status(),
      publish: (topic, body) => this.publisher.enqueue(topic, body),
    });

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
      publishDurable: (topic, body) => this.publisher.enqueue(topic, body),
      publishNow: (topic, body) => this.publishNow(topic, body),
      operations: { "rotate-certificate": async () => ({ certificateId: await this.rotation.rotate("job") }) },
      onInstalled: (version) => {
        this.firmwareVersion = version;
        writeFileAtomicSync(path.join(config.dataDir, "firmware.json"), JSON.stringify({ version, installedAt: new Date().toISOString() }) + "\n", 0o600);
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
      connected,
    });
    this.registry.register("rotate-certificate", async () => ({ certificateId: await this.rotation.rotate("command") }), {
      description: "Rotate the device certificate now (new key and CSR on the device, RegisterThing with the rotation template)",
    });
    this.connection = new ThingConnection(
      {
        config,
        thingName: this.thingName,
        log: this.log,
        onConnected: (sessionPresent) => {
          this.rotation.onConnectionSuccess();
          this.onConnected(sessionPresent);
        },
        onConnectionFailure: () => this.rotation.onConnectionFailure(),
        onDisconnected: (error) => {
          this.isSubscribed = false;
          this.emit("disconnected", { error });
        },
        onMessage: (topic, text) => this.onMessage(topic, text),
      },
      { certFile: config.certFile, keyFile: config.keyFile },
    );
  }

  /** Reconnect with another certificate (same client id): the old connection closes first. */
  private async switchIdentity(identity: IdentityPaths): Promise<void> {
    this.isSubscribed = false;
    await this.connection.replace(identity);
    if (!this.stopping) this.connection.start();
  }

  /** Rotate the certificate now (what the `rotate-certificate` command and job do); resolves once the new one connected. */
  rotateCertificate(): Promise<string> {
    return this.rotation.rotate("command");
  }

  /** One provisioning-API request on the current connection (see MqttExchange.request). */
  exchange(topic: string, body: unknown, timeoutMs = 30_000): Promise<ExchangeAnswer> {
    return this.connection.exchange(topic, body, timeoutMs);
  }

  get connected(): boolean {
    return this.connection.connected;
  }

  /** Connected and subscribed: commands sent now will be received. */
  get ready(): boolean {
    return this.connection.connected && this.isSubscribed;
  }

  /** Start connecting (and keep reconnecting) and start telemetry. */
  start(): this {
    this.log.info("starting", { endpoint: this.options.config.endpoint, port: this.options.config.port, firmwareVersion: this.firmwareVersion });
    this.connection.start();
    this.scheduleTelemetry();
    return this;
  }

  /** (Re)start the telemetry timer at the effective interval (config, or the shadow's desired value). */
  private scheduleTelemetry(): void {
    this.telemetry.schedule(this.shadow.settings.telemetryIntervalSeconds);
  }

  private publishNow(topic: string, body: unknown): Promise<void> {
    return publishJson(this.connection.client, topic, body);
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
    this.telemetry.stop();
    this.publisher.stop();
    this.jobs.stop();
    this.rotation.stop();
    await this.commands.stop(Math.max(0, deadline - Date.now()) / 2);
    await this.publisher.flush(Math.max(0, deadline - Date.now()));
    await this.connection.shutdown();
    this.outbox.close();
    this.log.info("stopped", { undelivered: this.outbox.size });
  }

  /** Figures for get-status. */
  status(): Record<string, unknown> {
    return {
      thingName: this.thingName,
      firmwareVersion: this.firmwareVersion,
      connected: this.connection.connected,
      queuedMessages: this.outbox.size,
      currentJobId: this.jobs.currentJobId ?? null,
      telemetryIntervalSeconds: this.shadow.settings.telemetryIntervalSeconds,
      ...systemStatus(),
    };
  }

  private onConnected(sessionPresent: boolean): void {
    this.log.info("connected", { sessionPresent, queued: this.outbox.size });
    this.emit("connected", { sessionPresent });
    // Always (re)subscribe: cheap, idempotent, and covers a broker that lost our session.
    this.connection.client
      .subscribe({
        subscriptions: [this.commandsTopic, ...this.jobs.subscriptions(), ...this.shadow.subscriptions()].map((topicFilter) => ({
          topicFilter,
          qos: mqtt5.QoS.AtLeastOnce,
        })),
      })
      .then((suback) => {
        const refused = suback.reasonCodes.filter((c) => c >= 0x80);
        if (refused.length > 0) this.log.error("subscriptions refused", { reasonCodes: suback.reasonCodes });
        this.isSubscribed = true;
        this.log.info("subscribed", { topics: [this.commandsTopic, ...this.jobs.subscriptions()] });
        this.emit("subscribed");
        this.jobs.requestNext();
        this.shadow.onConnected();
        this.rotation.onReady();
      })
      .catch((err: unknown) => this.log.warn("subscribe failed", { error: errorMessage(err) }));
    this.publisher.pump();
    void this.telemetry.publish();
  }

  private onMessage(topic: string, text: string): void {
    if (topic === this.commandsTopic) {
      this.commands.dispatch(text);
      return;
    }
    if (this.jobs.handleMessage(topic, text)) return;
    if (this.shadow.handleMessage(topic, text)) return;
    this.log.debug("message on an unexpected topic", { topic });
  }
}
