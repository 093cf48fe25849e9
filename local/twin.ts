/**
 * The local twin: the whole device lifecycle on one machine with no AWS account, built around the
 * REAL code (functions/, device/) and the synthesized stacks. Which stand-in plays which AWS service,
 * and how faithfully, is the README's "Local twin" fidelity table; this class starts them in order
 * (dynalite, the SNS sink, {@link TwinIotCore}, the pipeline endpoints, the real handlers, the emulated
 * streams, {@link TwinRules}, the MQTT services of twin-device-services.ts, the Pi launcher, the local
 * API), runs the EventBridge schedules as timers, and stops them in reverse.
 */
import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { loadConfig, type EnvironmentConfig } from "../config";
import { resourceNames } from "../stacks/shared/naming";
import { CommandOutcome, CommandSender, LocalApiServer } from "./api-server";
import { startDynalite, type DynaliteServer } from "./dynamo";
import { SimulatedPi, bundleDeviceClient, type DeviceBundle } from "./fleet";
import type { LocalFunctions } from "./functions";
import { CLAIM_IDENTITY } from "./iot-core/stack-identities";
import type { JobsService } from "./jobs-service";
import type { ShadowService } from "./shadow-service";
import { LocalCa } from "./pki";
import { SnsSink, formatSnsMessage, type SnsMessage } from "./sns-sink";
import { withTimeout, type CommandAnswer, type CommandChannel } from "./twin-commands";
import { startDeviceServices } from "./twin-device-services";
import { countedHook, createTwinFunctions, scheduledEvent } from "./twin-functions";
import { scheduleHourly, type HourlySchedule } from "./hourly-schedule";
import { ROLLUP_SCHEDULE_EXPRESSION } from "../functions/telemetry-rollup/contract";
import { TwinIotCore, type TwinEndpoint } from "./twin-iot";
import { PiLauncher, type PiOptions } from "./twin-pis";
import { TwinRules } from "./twin-rules";
import { createTwinTables } from "./twin-tables";
import { startPipelineEndpoints, startTwinStreams, type PipelineEndpoints } from "./twin-pipeline";
import type { TwinStreams } from "./streams/twin-streams";
import { writeTwinJson } from "./twin-json";
import { newTwinStats, type LocalTwinOptions, type TwinStats } from "./twin-options";

export { withTimeout, type CommandAnswer } from "./twin-commands";
export type { LocalTwinOptions, TwinStats } from "./twin-options";

export class LocalTwin extends EventEmitter implements CommandSender {
  /** Start every service (no Pis yet). */
  static async start(options: LocalTwinOptions): Promise<LocalTwin> {
    const twin = new LocalTwin(options);
    try {
      await twin.startServices();
    } catch (err) {
      await twin.stop().catch(() => undefined);
      throw err;
    }
    return twin;
  }

  readonly config: EnvironmentConfig;
  readonly names: ReturnType<typeof resourceNames>;
  readonly apiKey: string;
  readonly alertTopicArn: string;
  readonly stats: TwinStats = newTwinStats();

  private readonly print: (line: string) => void;
  private iotCore?: TwinIotCore;
  private db?: DynaliteServer;
  private sink?: SnsSink;
  private fns?: LocalFunctions;
  private rules?: TwinRules;
  private controller?: CommandChannel;
  private jobsService?: JobsService;
  private shadowService?: ShadowService;
  private api?: LocalApiServer;
  private bundle?: DeviceBundle;
  private launcher?: PiLauncher;
  private sweepTimer?: NodeJS.Timeout;
  private rollupSchedule?: HourlySchedule;
  private streams?: TwinStreams;
  private pipeline?: PipelineEndpoints;
  private stopping?: Promise<void>;

  private constructor(readonly options: LocalTwinOptions) {
    super();
    this.config = loadConfig(options.envName ?? process.env.IOT_ENV ?? "dev");
    this.names = resourceNames(this.config);
    this.apiKey = options.apiKey ?? randomBytes(20).toString("base64url");
    this.alertTopicArn = `arn:aws:sns:${this.config.region}:${this.config.accountId}:${this.names.alertTopic}`;
    this.print = options.print ?? ((line) => console.log(line));
  }

  /** The twin's AWS IoT Core: front end, identity plane, control plane, the mosquitto behind them. */
  get iot(): TwinIotCore {
    if (!this.iotCore) throw new Error("the twin is not started");
    return this.iotCore;
  }

  /** Where devices and MQTT clients connect (the front end). */
  get endpoint(): TwinEndpoint {
    return this.iot.endpoint;
  }

  get functions(): LocalFunctions {
    if (!this.fns) throw new Error("the twin is not started");
    return this.fns;
  }

  /** The Device Shadow stand-in. */
  get shadows(): ShadowService {
    if (!this.shadowService) throw new Error("the twin is not started");
    return this.shadowService;
  }

  get jobs(): JobsService {
    if (!this.jobsService) throw new Error("the twin is not started");
    return this.jobsService;
  }

  get apiUrl(): string {
    return this.api?.url ?? "";
  }

  get snsMessages(): readonly SnsMessage[] {
    return this.sink?.messages ?? [];
  }

  get dynamoEndpoint(): string {
    return this.db?.endpoint ?? "";
  }

  /** Bundled handler modules for the Pis (e.g. `work`). */
  get handlerModules(): Readonly<Record<string, string>> {
    return this.bundle?.handlerModules ?? {};
  }

  get pis(): ReadonlyMap<string, SimulatedPi> {
    return this.launcher?.pis ?? new Map();
  }

  /** Every answer received, by correlation id (all copies). */
  get answers(): ReadonlyMap<string, CommandAnswer[]> {
    return this.controller?.answers ?? new Map();
  }

  /** Ids of commands the broker accepted (PUBACK). */
  get sentIds(): ReadonlySet<string> {
    return this.controller?.sentIds ?? new Set();
  }

  /** Print one readable progress line: time, tag, text. */
  note(tag: string, text: string): void {
    this.print(`${new Date().toISOString().slice(11, 23)} ${`[${tag}]`.padEnd(10)} ${text}`);
  }

  private async startServices(): Promise<void> {
    const o = this.options;
    const workDir = path.resolve(o.workDir);
    await fs.mkdir(workDir, { recursive: true });
    this.bundle = await bundleDeviceClient(path.join(workDir, "bin"));

    this.db = await startDynalite({ region: this.config.region });
    await createTwinTables(this.db.client, this.names);
    this.note("twin", `dynalite ${this.db.endpoint}: tables ${this.names.registryTable}, ${this.names.alertStateTable}`);

    this.sink = await SnsSink.start({ topicArns: [this.alertTopicArn] });
    this.sink.on("publish", (m) => {
      this.stats.snsMessages++;
      this.note("sns", `ALERT ${formatSnsMessage(m)}`);
      this.emit("alert", m); // the twin console shows alerts as they arrive
    });
    this.note("twin", `SNS sink ${this.sink.endpoint} for ${this.alertTopicArn}`);
    const ca = await LocalCa.create({ commonName: "smart-home local twin CA" });
    const pkiDir = path.join(workDir, "pki");
    await ca.writeFiles(pkiDir);
    this.iotCore = await TwinIotCore.start({
      workDir,
      ca,
      caFile: path.join(pkiDir, "ca.cert.pem"),
      envName: this.config.name,
      preProvisioningHook: countedHook(
        () => this.functions,
        this.stats,
        (text) => this.note("hook", text),
      ),
    });
    const iot = this.iotCore;
    this.note("twin", `IoT endpoint ${iot.url} (mutual TLS, CA ${iot.endpoint.caFile}; policies, template and certificates from the synthesized stacks)`);
    this.note("twin", `IoT control plane ${iot.controlPlaneUrl} (AWS_ENDPOINT_URL_IOT)`);
    this.pipeline = await startPipelineEndpoints({ functions: () => this.functions, rules: () => this.rules, twin: this, note: (t) => this.note("twin", t) });
    // After the IoT stand-in: the certificate revoker reaches it through AWS_ENDPOINT_URL_IOT.
    this.fns = createTwinFunctions({
      config: this.config,
      names: this.names,
      alertTopicArn: this.alertTopicArn,
      dynamodbEndpoint: this.db.endpoint,
      snsEndpoint: this.sink.endpoint,
      iotEndpoint: iot.controlPlaneUrl,
      ...this.pipeline.functionEndpoints,
      logLevel: o.functionLogLevel ?? "warn",
      alertCooldownSeconds: o.alertCooldownSeconds,
      offlineGraceSeconds: o.offlineGraceSeconds ?? 60,
      counters: this.stats,
      note: (tag, text) => this.note(tag, text),
      asyncInvokeConfigs: iot.synthesized.topicRules.asyncInvokeConfigs,
    });
    // dynalite has no streams: the synthesized mappings read emulated ones (local/streams/) and drive the real consumers.
    this.streams = await startTwinStreams({
      synthesized: iot.synthesized,
      dynamodb: this.db.client,
      functions: this.fns,
      twin: this,
      note: (t) => this.note("stream", t),
    });

    const note = (tag: string, text: string) => this.note(tag, text);
    this.rules = await TwinRules.start({
      iot,
      functions: this.fns,
      dynamodb: this.db.client,
      config: this.config,
      names: this.names,
      workDir,
      counters: this.stats,
      note,
      streams: this.streams,
    });
    const services = await startDeviceServices({
      iot,
      names: this.names,
      s3: this.rules.s3,
      counters: this.stats,
      noteCommand: o.printCommands === false ? undefined : (text) => this.note("cmd", text),
    });
    this.controller = services.controller;
    this.shadowService = services.shadows;
    this.jobsService = services.jobs;

    this.launcher = new PiLauncher({
      workDir,
      bundle: this.bundle,
      endpoint: iot.endpoint,
      claim: iot.identityFiles(CLAIM_IDENTITY),
      templateName: this.names.provisioningTemplate,
      rotationTemplateName: this.names.rotationTemplate,
      telemetryIntervalSeconds: o.telemetryIntervalSeconds,
      deviceLogLevel: o.deviceLogLevel,
      deviceReconnect: o.deviceReconnect,
      stopping: () => this.stopping !== undefined,
      note: (text) => this.note("pi", text),
    });

    this.api = await LocalApiServer.start({
      apiKey: this.apiKey,
      port: o.apiPort,
      accountId: this.config.accountId,
      registerHandler: (event) => this.functions.invoke("register-device", event),
      commands: this,
      alerts: () => this.snsMessages,
      healthCheck: () => this.healthCheck(),
      rollup: () => this.rollup(),
      dashboardHandler: (event) => this.functions.invoke("telemetry-api", event),
    });
    this.note("twin", `registration API ${this.api.url} (x-api-key required); dashboard read API on it too (x-twin-groups: building-<id>)`);

    if ((o.sweepIntervalSeconds ?? 0) > 0) {
      this.sweepTimer = setInterval(() => void this.sweep().catch(() => undefined), o.sweepIntervalSeconds! * 1000);
      this.sweepTimer.unref();
    }
    if (o.rollupSchedule) this.rollupSchedule = scheduleHourly(ROLLUP_SCHEDULE_EXPRESSION, () => this.rollup());
    await writeTwinJson(workDir, {
      iot,
      names: this.names,
      apiUrl: this.apiUrl,
      apiKey: this.apiKey,
      dynamodbEndpoint: this.dynamoEndpoint,
      snsEndpoint: this.sink.endpoint,
      s3Endpoint: this.rules.s3.endpoint,
    });
  }

  // --- commands (the controller) ---------------------------------------------------------------------

  /**
   * Publish a command (QoS 1) as the controller. `accepted` resolves when the endpoint acknowledged it
   * (counted in `stats.commandsSent`), `answer` when a response or error with its id arrives.
   */
  publishCommand(
    thingName: string,
    command: string,
    params: Record<string, unknown> = {},
  ): { id: string; accepted: Promise<boolean>; answer: Promise<CommandAnswer> } {
    if (!this.controller) throw new Error("the twin is not started");
    return this.controller.publishCommand(thingName, command, params);
  }

  /** {@link CommandSender} for the local API: publish, then wait up to `waitMs` for the answer. */
  send(thingName: string, command: string, params: Record<string, unknown>, waitMs: number): Promise<CommandOutcome> {
    if (!this.controller) throw new Error("the twin is not started");
    return this.controller.send(thingName, command, params, waitMs);
  }

  // --- registry, Pis, sweep ----------------------------------------------------------------------------

  /** Register a serial through the local registration API (the real handler behind the API key). */
  async registerDevice(
    serialNumber: string,
    deviceType: string,
    options: { provisioningTokenSha256?: string; metadata?: Readonly<Record<string, string>> } = {},
  ): Promise<{ status: number; body: unknown }> {
    const res = await fetch(`${this.apiUrl}/devices`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": this.apiKey },
      body: JSON.stringify({ serialNumber, deviceType, ...options }),
    });
    const body = (await res.json()) as unknown;
    if (res.status === 201) this.stats.registered++;
    this.note("api", `POST /devices ${serialNumber} (${deviceType}) -> ${res.status}`);
    return { status: res.status, body };
  }

  /** Read a registry row through the local API. */
  async getDevice(serialNumber: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${this.apiUrl}/devices/${encodeURIComponent(serialNumber)}`, { headers: { "x-api-key": this.apiKey } });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  private get pisLauncher(): PiLauncher {
    if (!this.launcher) throw new Error("the twin is not started");
    return this.launcher;
  }

  /** A new simulated Pi (its own directory, config file and data dir); not started. */
  createPi(serialNumber: string, deviceType: string, options: PiOptions = {}): Promise<SimulatedPi> {
    return this.pisLauncher.create(serialNumber, deviceType, options);
  }

  /** Provision a Pi with the claim certificate on the endpoint; resolves to its exit code (0 provisioned, 77 denied). */
  provisionPi(pi: SimulatedPi): Promise<number | null> {
    return this.pisLauncher.provision(pi);
  }

  /** Start a provisioned Pi's `run` process; resolves when it is connected and subscribed to its commands. */
  startPi(pi: SimulatedPi, timeoutMs = 60_000): Promise<void> {
    return this.pisLauncher.start(pi, timeoutMs);
  }

  /** Stop a Pi's process cleanly (SIGTERM). */
  stopPi(pi: SimulatedPi): Promise<number | null> {
    return this.pisLauncher.stop(pi);
  }

  /** One offline sweep, as the EventBridge schedule triggers it. */
  async sweep(): Promise<{ status: string; alerted?: string[] }> {
    return this.functions.invoke("offline-detector", scheduledEvent(this.config, this.names.offlineSweepSchedule));
  }

  /** The daily health summary now, as its EventBridge schedule triggers it (the message goes to the SNS sink). */
  async healthCheck(): Promise<unknown> {
    return this.functions.invoke("health-check", scheduledEvent(this.config, this.names.healthCheckSchedule));
  }

  /** The hourly rollup job now, as its EventBridge schedule triggers it (rolls the completed hours after its watermark). */
  async rollup(): Promise<unknown> {
    return this.functions.invoke("telemetry-rollup", scheduledEvent(this.config, this.names.telemetryRollupSchedule));
  }

  /** The topic rules (their engine, the S3 stand-in holding the warm store). */
  get topicRules(): TwinRules {
    if (!this.rules) throw new Error("the twin is not started");
    return this.rules;
  }

  /** Resolve when no rule action, stream record or async function invocation is queued or running. */
  async idle(): Promise<void> {
    await this.rules?.idle();
    await this.streams?.drain();
    await this.functions.idle();
  }

  /** Stop every Pi, then every service. Safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    clearInterval(this.sweepTimer);
    this.rollupSchedule?.stop();
    const running = [...this.pis.values()].filter((p) => p.running);
    if (running.length > 0) this.note("twin", `stopping ${running.length} Pi process(es)`);
    await this.launcher?.stopAll();
    if (this.fns) await withTimeout(this.idle(), 10_000);
    await this.streams?.close();
    await this.rules?.close().catch(() => undefined);
    await Promise.allSettled([this.api?.close(), this.jobsService?.close(), this.shadowService?.close()]);
    await this.iotCore?.close().catch(() => undefined);
    await Promise.allSettled([this.sink?.close(), this.db?.close(), this.pipeline?.close()]);
    this.fns?.restoreEnvironment();
    this.note("twin", "stopped");
  }
}
