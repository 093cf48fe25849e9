/**
 * The local twin: the whole device lifecycle on one machine with no AWS account, built around the
 * REAL code (functions/, device/) and the local stand-ins in local/:
 *
 * | AWS | local stand-in |
 * |---|---|
 * | IoT Core broker, X.509 auth, policies | {@link MosquittoBroker}: mosquitto, mutual TLS with a {@link LocalCa}, ACL mirroring the policies |
 * | Fleet provisioning by claim | {@link ProvisioningResponder} + one {@link ClaimGateway} per provisioning Pi; hook = the real `provisioning-hook` |
 * | DynamoDB registry and alert-state tables | dynalite (local/dynamo.ts), same keys as the `iot` stack |
 * | Lifecycle events + rule -> offline detector | {@link LifecycleBridge}: broker connect/disconnect -> AWS-shaped events -> real `offline-detector` (async, retried) |
 * | Rule on `devices/+/errors` -> alert handler | a service MQTT subscription; payload + `thingName` = topic(2) + `receivedAt` -> real `alert-handler` |
 * | EventBridge schedule -> offline sweep | a timer invoking the real `offline-detector` with `{"detail-type": "Scheduled Event"}` |
 * | SNS alert topic + e-mail | {@link SnsSink}: the SNS query API on localhost, messages printed and recorded |
 * | API Gateway + API key -> register-device | {@link LocalApiServer}: `x-api-key` check, HTTP <-> APIGatewayProxyEvent, real `register-device` |
 * | IoT Jobs | {@link JobsService} |
 * | Raspberry Pis | {@link SimulatedPi}: one OS process per Pi running the real device client |
 */
import { randomBytes, randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { mqtt5 } from "aws-iot-device-sdk-v2";
import { loadConfig, type EnvironmentConfig } from "../config";
import { resourceNames } from "../modules/naming";
import { CommandOutcome, CommandSender, LocalApiServer } from "./api-server";
import { MosquittoBroker, MqttTestClient, parseJsonObject } from "./broker";
import { FAKE_AWS_ENV, createTables, startDynalite, type DynaliteServer } from "./dynamo";
import { SimulatedPi, bundleDeviceClient, type DeviceBundle } from "./fleet";
import { LocalFunctions, type Invocation } from "./functions";
import { JobsService } from "./jobs-service";
import { LifecycleBridge, type LifecycleEvent } from "./lifecycle";
import { IssuedCertificate, LocalCa, writePemFiles } from "./pki";
import { PreProvisioningHookEvent, PreProvisioningHookResult, ProvisioningResponder } from "./provisioning-responder";
import { SnsSink, formatSnsMessage, type SnsMessage } from "./sns-sink";
import { hookEnvironment } from "../functions/provisioning-hook/contract";
import { registerEnvironment } from "../functions/register-device/contract";

export interface LocalTwinOptions {
  /** Everything the twin writes (certificates, broker, Pis). Created if missing. */
  readonly workDir: string;
  /** Environment in config/ whose names the twin uses. @default process.env.IOT_ENV ?? "dev" */
  readonly envName?: string;
  /** @default a random free port */
  readonly apiPort?: number;
  /** @default a random key */
  readonly apiKey?: string;
  /** OFFLINE_GRACE_SECONDS for the offline detector. @default 60 */
  readonly offlineGraceSeconds?: number;
  /** ALERT_COOLDOWN_SECONDS for the alert handler. @default 300 (as deployed) */
  readonly alertCooldownSeconds?: number;
  /** Run the offline sweep every so many seconds, like the EventBridge schedule; 0 = never. @default 0 */
  readonly sweepIntervalSeconds?: number;
  /** LOG_LEVEL of the in-process functions (their JSON lines go to stdout). @default "warn" */
  readonly functionLogLevel?: "debug" | "info" | "warn" | "error" | "silent";
  /** Log level of the device processes (their logs go to `<pi dir>/device.log`). @default "info" */
  readonly deviceLogLevel?: "debug" | "info" | "warn" | "error";
  /** Device telemetry interval. @default 0 (off) */
  readonly telemetryIntervalSeconds?: number;
  /** Device reconnect backoff. @default 200..2000 ms */
  readonly deviceReconnect?: { minDelayMs: number; maxDelayMs: number; resetAfterMs: number };
  /** Where readable progress lines go. @default console.log */
  readonly print?: (line: string) => void;
  /** Print each command and its answer. @default true */
  readonly printCommands?: boolean;
}

/** A response or error that answered a command (matched by correlation id). */
export interface CommandAnswer {
  readonly id: string;
  readonly thingName: string;
  readonly topic: "responses" | "errors";
  readonly body: Record<string, unknown>;
  readonly receivedAt: number;
}

/** Counters of what happened, for summaries and tests. */
export interface TwinStats {
  registered: number;
  hookAllowed: number;
  hookDenied: number;
  commandsSent: number;
  commandsNotAccepted: number;
  /** Distinct correlation ids answered (responses or errors). */
  answered: number;
  /** Extra copies of answers already received (QoS 1 is at-least-once). */
  duplicateAnswers: number;
  /** Answers whose id this twin never sent. */
  unsolicitedAnswers: number;
  errorsRouted: number;
  alertsSent: number;
  alertsSuppressed: number;
  offlineAlerted: number;
  sweeps: number;
  functionFailures: number;
  snsMessages: number;
}

interface Waiter {
  readonly resolve: (answer: CommandAnswer) => void;
}

const SERVICE_CLIENT_ID = "local-twin-cloud";
const COMMANDS_QOS = mqtt5.QoS.AtLeastOnce;

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
  readonly stats: TwinStats = {
    registered: 0,
    hookAllowed: 0,
    hookDenied: 0,
    commandsSent: 0,
    commandsNotAccepted: 0,
    answered: 0,
    duplicateAnswers: 0,
    unsolicitedAnswers: 0,
    errorsRouted: 0,
    alertsSent: 0,
    alertsSuppressed: 0,
    offlineAlerted: 0,
    sweeps: 0,
    functionFailures: 0,
    snsMessages: 0,
  };
  readonly pis = new Map<string, SimulatedPi>();
  /** Every answer received, by correlation id (all copies). */
  readonly answers = new Map<string, CommandAnswer[]>();
  /** Ids of commands the broker accepted (PUBACK). */
  readonly sentIds = new Set<string>();

  private readonly print: (line: string) => void;
  private readonly waiters = new Map<string, Waiter[]>();
  private readonly issuedIds = new Set<string>();
  private readonly certificates = new Map<string, string>();
  private ca?: LocalCa;
  private brokerInstance?: MosquittoBroker;
  private db?: DynaliteServer;
  private sink?: SnsSink;
  private fns?: LocalFunctions;
  private cloud?: MqttTestClient;
  private responder?: ProvisioningResponder;
  private jobs?: JobsService;
  private lifecycle?: LifecycleBridge;
  private api?: LocalApiServer;
  private bundle?: DeviceBundle;
  private claimFiles?: { certFile: string; keyFile: string };
  private serviceCredentials?: IssuedCertificate;
  private sweepTimer?: NodeJS.Timeout;
  private stopping?: Promise<void>;

  private constructor(readonly options: LocalTwinOptions) {
    super();
    this.config = loadConfig(options.envName ?? process.env.IOT_ENV ?? "dev");
    this.names = resourceNames(this.config);
    this.apiKey = options.apiKey ?? randomBytes(20).toString("base64url");
    this.alertTopicArn = `arn:aws:sns:${this.config.region}:${this.config.accountId}:${this.names.alertTopic}`;
    this.print = options.print ?? ((line) => console.log(line));
  }

  get broker(): MosquittoBroker {
    if (!this.brokerInstance) throw new Error("the twin is not started");
    return this.brokerInstance;
  }

  get functions(): LocalFunctions {
    if (!this.fns) throw new Error("the twin is not started");
    return this.fns;
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

  /** Print one readable progress line: time, tag, text. */
  note(tag: string, text: string): void {
    this.print(`${new Date().toISOString().slice(11, 23)} ${`[${tag}]`.padEnd(10)} ${text}`);
  }

  private async startServices(): Promise<void> {
    const o = this.options;
    const workDir = path.resolve(o.workDir);
    await fs.mkdir(workDir, { recursive: true });

    this.bundle = await bundleDeviceClient(path.join(workDir, "bin"));

    this.ca = await LocalCa.create({ commonName: "smart-home local twin CA" });
    const pkiDir = path.join(workDir, "pki");
    await this.ca.writeFiles(pkiDir);
    this.brokerInstance = await MosquittoBroker.start({
      ca: this.ca,
      dir: path.join(workDir, "broker"),
      provisioningTemplateName: this.names.provisioningTemplate,
    });
    const broker = this.brokerInstance;
    broker.on("crashed", (info) => {
      if (!this.stopping) this.note("broker", `mosquitto exited unexpectedly (code ${info.code}, signal ${info.signal})`);
    });
    const claim = await this.ca.issueClientCertificate(broker.claimIdentity);
    const claimPaths = await writePemFiles(pkiDir, "claim", claim);
    this.claimFiles = { certFile: claimPaths.certPath, keyFile: claimPaths.keyPath };
    this.serviceCredentials = await this.ca.issueClientCertificate(broker.serviceIdentity);
    await writePemFiles(pkiDir, "service", this.serviceCredentials);
    this.note("twin", `broker ${broker.url} (mutual TLS, CA ${path.join(pkiDir, "ca.cert.pem")}), template ${this.names.provisioningTemplate}`);

    this.db = await startDynalite({ region: this.config.region });
    await createTables(this.db.client, this.names.registryTable, this.names.alertStateTable);
    this.note("twin", `dynalite ${this.db.endpoint}: tables ${this.names.registryTable}, ${this.names.alertStateTable}`);

    this.sink = await SnsSink.start({ topicArns: [this.alertTopicArn] });
    this.sink.on("publish", (m) => {
      this.stats.snsMessages++;
      this.note("sns", `ALERT ${formatSnsMessage(m)}`);
    });
    this.note("twin", `SNS sink ${this.sink.endpoint} for ${this.alertTopicArn}`);

    this.fns = new LocalFunctions({
      accountId: this.config.accountId,
      region: this.config.region,
      retryDelaysMs: [500, 1000],
      physicalNames: {
        "provisioning-hook": this.names.provisioningHookFunction,
        "register-device": this.names.registerDeviceFunction,
        "alert-handler": this.names.alertHandlerFunction,
        "offline-detector": this.names.offlineDetectorFunction,
        "health-check": this.names.healthCheckFunction,
      },
      environment: {
        ...FAKE_AWS_ENV,
        AWS_REGION: this.config.region,
        AWS_EC2_METADATA_DISABLED: "true",
        AWS_ENDPOINT_URL_DYNAMODB: this.db.endpoint,
        AWS_ENDPOINT_URL_SNS: this.sink.endpoint,
        LOG_LEVEL: o.functionLogLevel ?? "warn",
        // One environment serves every function here; the hook's and the API's come from their contracts.
        ...hookEnvironment({
          environment: this.config.name,
          registryTableName: this.names.registryTable,
          allowedDeviceTypes: this.config.deviceTypes,
          leaseSeconds: this.config.provisioning.leaseSeconds,
          namePrefix: this.config.namePrefix,
        }),
        ...registerEnvironment({
          environment: this.config.name,
          registryTableName: this.names.registryTable,
          allowedDeviceTypes: this.config.deviceTypes,
          namePrefix: this.config.namePrefix,
        }),
        ALERT_STATE_TABLE_NAME: this.names.alertStateTable,
        ALERT_TOPIC_ARN: this.alertTopicArn,
        ALERT_COOLDOWN_SECONDS: String(o.alertCooldownSeconds ?? 300),
        OFFLINE_GRACE_SECONDS: String(o.offlineGraceSeconds ?? 60),
        HEALTH_OFFLINE_THRESHOLD_SECONDS: "3600",
      },
    });
    this.fns.on("invoked", (inv) => this.onInvoked(inv));
    this.fns.on("failed", (inv) => {
      this.stats.functionFailures++;
      this.note(inv.functionName, `FAILED after ${inv.attempt} attempts: ${inv.error}`);
    });

    // The cloud side's MQTT client: rule subscriptions, command sender, response receiver. A persistent
    // session, so nothing published while it reconnects (e.g. across a broker restart) is missed.
    this.cloud = await broker.connectService({ clientId: SERVICE_CLIENT_ID, credentials: this.serviceCredentials, sessionExpirySeconds: 3600 });
    this.cloud.onMessage((topic, payload) => this.onCloudMessage(topic, payload));
    await this.cloud.subscribe(["devices/+/responses", "devices/+/errors"]);

    this.responder = await ProvisioningResponder.start({
      broker,
      templateName: this.names.provisioningTemplate,
      claimCertificatePem: claim.certPem,
      serviceCredentials: this.serviceCredentials,
      region: this.config.region,
      accountId: this.config.accountId,
      preProvisioningHook: (event) => this.preProvisioningHook(event),
    });
    this.responder.on("thing-registered", (thing) => this.certificates.set(thing.thingName, thing.certificateId));
    this.jobs = await JobsService.start({ broker, serviceCredentials: this.serviceCredentials });

    this.lifecycle = new LifecycleBridge({
      broker,
      principalOf: (clientId, username) =>
        this.certificates.get(clientId) ?? (username === broker.serviceIdentity ? this.serviceCredentials?.certificateId : undefined),
      deliver: (event) => this.onLifecycleEvent(event),
      publish: (topic, event) => this.cloud!.publish(topic, event, mqtt5.QoS.AtMostOnce),
    });

    this.api = await LocalApiServer.start({
      apiKey: this.apiKey,
      port: o.apiPort,
      accountId: this.config.accountId,
      registerHandler: (event) => this.functions.invoke("register-device", event),
      commands: this,
      alerts: () => this.snsMessages,
      healthCheck: () => this.healthCheck(),
    });
    this.note("twin", `registration API ${this.api.url} (x-api-key required)`);

    if ((o.sweepIntervalSeconds ?? 0) > 0) {
      this.sweepTimer = setInterval(() => void this.sweep().catch(() => undefined), o.sweepIntervalSeconds! * 1000);
      this.sweepTimer.unref();
    }

    await fs.writeFile(
      path.join(workDir, "twin.json"),
      JSON.stringify(
        {
          apiUrl: this.api.url,
          apiKey: this.apiKey,
          broker: { host: broker.host, port: broker.port, caFile: broker.caPath },
          claim: this.claimFiles,
          service: { certFile: path.join(pkiDir, "service.cert.pem"), keyFile: path.join(pkiDir, "service.key.pem") },
          dynamodbEndpoint: this.db.endpoint,
          snsEndpoint: this.sink.endpoint,
          templateName: this.names.provisioningTemplate,
        },
        null,
        2,
      ) + "\n",
      { mode: 0o600 },
    );
  }

  // --- the functions and what they say -------------------------------------------------------------

  private async preProvisioningHook(event: PreProvisioningHookEvent): Promise<PreProvisioningHookResult> {
    const result = await this.functions.invoke<PreProvisioningHookResult>("provisioning-hook", event);
    const serial = event.parameters.SerialNumber ?? "?";
    if (result.allowProvisioning) this.stats.hookAllowed++;
    else this.stats.hookDenied++;
    this.note("hook", `${serial}: ${result.allowProvisioning ? "allowed" : "DENIED"} (${event.parameters.DeviceType ?? "?"}, client ${event.clientId})`);
    return result;
  }

  private onLifecycleEvent(event: LifecycleEvent): void {
    const reason = event.eventType === "disconnected" ? ` (${event.disconnectReason})` : "";
    this.note("lifecycle", `${event.clientId} ${event.eventType}${reason} -> offline-detector`);
    this.functions.invokeAsync("offline-detector", event);
  }

  private onInvoked(inv: Invocation): void {
    if (inv.error) {
      this.note(inv.functionName, `attempt ${inv.attempt} failed: ${inv.error}`);
      return;
    }
    const result = inv.result as { status?: string; alerted?: string[] } | undefined;
    if (inv.functionName === "offline-detector") {
      const e = inv.event as { clientId?: string };
      if (result?.status === "provisioned" || result?.status === "provisioned-stale") {
        this.note("registry", `${e.clientId}: PROVISIONING -> PROVISIONED (first connection)`);
      } else if (result?.status === "swept") {
        this.stats.sweeps++;
        this.stats.offlineAlerted += result.alerted?.length ?? 0;
        if ((result.alerted?.length ?? 0) > 0) this.note("sweep", `offline alert for ${result.alerted!.join(", ")}`);
      }
    } else if (inv.functionName === "alert-handler") {
      const e = inv.event as { thingName?: string; code?: string };
      if (result?.status === "sent") this.stats.alertsSent++;
      else if (result?.status === "suppressed") {
        this.stats.alertsSuppressed++;
        this.note("alert", `${e.thingName} ${e.code}: suppressed (same error within ALERT_COOLDOWN_SECONDS)`);
      } else if (result?.status === "dropped") this.note("alert", `${e.thingName}: malformed error payload dropped`);
    }
  }

  private onCloudMessage(topic: string, payload: Buffer): void {
    const m = /^devices\/([^/]+)\/(responses|errors)$/.exec(topic);
    if (!m) return;
    const thingName = m[1]!;
    const kind = m[2] as "responses" | "errors";
    const body = parseJsonObject(payload);
    if (!body) {
      this.note("rules", `${topic}: payload is not a JSON object; ignored`);
      return;
    }
    const receivedAt = Date.now();
    if (kind === "errors") {
      // The iot stack's rule: SELECT *, topic(2) AS thingName, timestamp() AS receivedAt FROM 'devices/+/errors'
      this.stats.errorsRouted++;
      this.note("rules", `${thingName} error ${String(body.code)} -> alert-handler`);
      this.functions.invokeAsync("alert-handler", { ...body, thingName, receivedAt });
    }
    const id = typeof body.id === "string" ? body.id : undefined;
    if (!id) return;
    const answer: CommandAnswer = { id, thingName, topic: kind, body, receivedAt };
    const copies = this.answers.get(id);
    if (copies) {
      copies.push(answer);
      this.stats.duplicateAnswers++;
      return;
    }
    this.answers.set(id, [answer]);
    if (!this.issuedIds.has(id)) {
      this.stats.unsolicitedAnswers++;
      return;
    }
    this.stats.answered++;
    for (const w of this.waiters.get(id) ?? []) w.resolve(answer);
    this.waiters.delete(id);
  }

  // --- commands --------------------------------------------------------------------------------------

  /**
   * Publish a command (QoS 1). `accepted` resolves when the broker acknowledged it (counted in
   * `stats.commandsSent`), `answer` when a response or error with its id arrives.
   */
  publishCommand(thingName: string, command: string, params: Record<string, unknown> = {}): { id: string; accepted: Promise<boolean>; answer: Promise<CommandAnswer> } {
    const id = randomUUID();
    this.issuedIds.add(id);
    const answer = new Promise<CommandAnswer>((resolve) => {
      const existing = this.answers.get(id);
      if (existing) return resolve(existing[0]!);
      const list = this.waiters.get(id) ?? [];
      list.push({ resolve });
      this.waiters.set(id, list);
    });
    const body = { id, command, params, issuedAt: new Date().toISOString() };
    const accepted = this.cloud!.publish(`devices/${thingName}/commands`, body, COMMANDS_QOS).then(
      () => {
        this.stats.commandsSent++;
        this.sentIds.add(id);
        return true;
      },
      () => {
        this.stats.commandsNotAccepted++;
        return false;
      },
    );
    return { id, accepted, answer };
  }

  /** {@link CommandSender} for the local API: publish, then wait up to `waitMs` for the answer. */
  async send(thingName: string, command: string, params: Record<string, unknown>, waitMs: number): Promise<CommandOutcome> {
    const startedAt = Date.now();
    const { id, accepted, answer } = this.publishCommand(thingName, command, params);
    if (this.options.printCommands !== false) this.note("cmd", `-> ${thingName} ${command} (id ${id.slice(0, 8)})`);
    await accepted;
    const result = await withTimeout(answer, waitMs);
    if (!result) return { id, thingName, command, status: "pending" };
    const latencyMs = result.receivedAt - startedAt;
    if (this.options.printCommands !== false) this.note("cmd", `<- ${thingName} ${describeAnswer(result)} in ${latencyMs} ms`);
    return { id, thingName, command, status: "answered", topic: result.topic, answer: result.body, latencyMs };
  }

  // --- registry, Pis, sweep ----------------------------------------------------------------------------

  /** Register a serial through the local registration API (the real handler behind the API key). */
  async registerDevice(
    serialNumber: string,
    deviceType: string,
    options: { provisioningTokenSha256?: string } = {},
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

  /** A new simulated Pi (its own directory, config file and data dir); not started. */
  async createPi(
    serialNumber: string,
    deviceType: string,
    /** `name`: this Pi's directory and key (default the serial), e.g. for an impostor with a copied serial. */
    options: { handlerModules?: readonly string[]; provisioningToken?: string; name?: string } = {},
  ): Promise<SimulatedPi> {
    const broker = this.broker;
    const pi = new SimulatedPi({
      serialNumber,
      deviceType,
      dir: path.join(path.resolve(this.options.workDir), "pis", options.name ?? serialNumber),
      cliPath: this.bundle!.cliPath,
      endpoint: { host: broker.host, port: broker.port, caFile: broker.caPath },
      claim: this.claimFiles!,
      templateName: this.names.provisioningTemplate,
      handlerModules: options.handlerModules,
      provisioningToken: options.provisioningToken,
      telemetryIntervalSeconds: this.options.telemetryIntervalSeconds ?? 0,
      logLevel: this.options.deviceLogLevel ?? "info",
      extraConfig: {
        reconnect: this.options.deviceReconnect ?? { minDelayMs: 200, maxDelayMs: 2000, resetAfterMs: 5000 },
        provisioning: { maxAttempts: 4, attemptTimeoutMs: 30_000, backoff: { baseMs: 500, maxMs: 4000 } },
      },
    });
    await pi.writeConfig();
    pi.on("exit", ({ phase, code, signal }) => {
      if (phase === "run" && pi.state === "running" && !this.stopping) this.note("pi", `${serialNumber}: device process exited (code ${code}, signal ${signal})`);
    });
    this.pis.set(options.name ?? serialNumber, pi);
    return pi;
  }

  /**
   * Provision a Pi through its own claim gateway (so AWS's "responses reach only the requester" holds);
   * resolves to the device's exit code (0 provisioned, 77 denied by the registry).
   */
  async provisionPi(pi: SimulatedPi): Promise<number | null> {
    const gateway = await retry(() => this.broker.startClaimGateway(), 3);
    try {
      const code = await pi.provision(gateway.port);
      if (code === 0) this.note("pi", `${pi.serialNumber}: provisioned (certificate and thing.json in ${pi.dataDir})`);
      else if (code === 77) this.note("pi", `${pi.serialNumber}: provisioning DENIED by the registry (exit 77)`);
      else this.note("pi", `${pi.serialNumber}: provisioning failed (exit ${code}); last lines:\n${pi.recent.slice(-5).join("\n")}`);
      return code;
    } finally {
      await gateway.stop();
    }
  }

  /** Start a provisioned Pi's `run` process; resolves when it is connected and subscribed to its commands. */
  async startPi(pi: SimulatedPi, timeoutMs = 60_000): Promise<void> {
    const ready = new Promise<void>((resolve, reject) => {
      let connectedTimer: NodeJS.Timeout | undefined;
      const timer = setTimeout(() => done(new Error(`${pi.serialNumber} did not connect within ${timeoutMs} ms:\n${pi.recent.slice(-10).join("\n")}`)), timeoutMs);
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
    this.note("pi", `${pi.serialNumber}: running (pid ${pi.pid}), connected as thing ${pi.serialNumber}`);
  }

  /** Stop a Pi's process cleanly (SIGTERM). */
  async stopPi(pi: SimulatedPi): Promise<number | null> {
    const code = await pi.stop();
    this.note("pi", `${pi.serialNumber}: stopped (exit ${code})`);
    return code;
  }

  /** One offline sweep, as the EventBridge schedule triggers it. */
  async sweep(): Promise<{ status: string; alerted?: string[] }> {
    return this.functions.invoke("offline-detector", this.scheduledEvent(this.names.offlineSweepSchedule));
  }

  /** The daily health summary now, as its EventBridge schedule triggers it (the message goes to the SNS sink). */
  async healthCheck(): Promise<unknown> {
    return this.functions.invoke("health-check", this.scheduledEvent(this.names.healthCheckSchedule));
  }

  /** The event an EventBridge schedule rule named `rule` sends to its target. */
  private scheduledEvent(rule: string) {
    const { region, accountId } = this.config;
    return {
      version: "0",
      id: randomUUID(),
      "detail-type": "Scheduled Event",
      source: "aws.events",
      account: accountId,
      time: new Date().toISOString(),
      region,
      resources: [`arn:aws:events:${region}:${accountId}:rule/${rule}`],
      detail: {},
    };
  }

  /** Resolve when no async function invocation is queued or running. */
  idle(): Promise<void> {
    return this.functions.idle();
  }

  /** Stop every Pi, then every service. Safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    clearInterval(this.sweepTimer);
    const running = [...this.pis.values()].filter((p) => p.running);
    if (running.length > 0) this.note("twin", `stopping ${running.length} Pi process(es)`);
    await Promise.all([...this.pis.values()].map(async (p) => {
      if (p.running) await p.stop();
      await p.closeLog();
    }));
    if (this.fns) await withTimeout(this.fns.idle(), 10_000);
    this.lifecycle?.close();
    await Promise.allSettled([this.api?.close(), this.responder?.close(), this.jobs?.close(), this.cloud?.close()]);
    await this.brokerInstance?.close().catch(() => undefined);
    await Promise.allSettled([this.sink?.close(), this.db?.close()]);
    this.fns?.restoreEnvironment();
    this.note("twin", "stopped");
  }
}

function describeAnswer(answer: CommandAnswer): string {
  const b = answer.body;
  if (answer.topic === "errors") return `error ${String(b.code)}: ${String(b.message)}`;
  const text = JSON.stringify(b.result ?? {});
  return `${String(b.status)} ${text.length > 120 ? `${text.slice(0, 117)}...` : text}`;
}

/** `promise`'s value, or undefined once `ms` have passed without one. */
export async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

async function retry<T>(fn: () => Promise<T>, attempts: number): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 200 * i));
    }
  }
}
