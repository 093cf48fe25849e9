/**
 * A real MQTT 5 broker for the local twin and the device tests: Debian's `mosquitto` (2.0.x) run as a
 * child process on 127.0.0.1 with mutual TLS, an ACL that mirrors the AWS IoT policies, persistence
 * (QoS 1 sessions survive `restart()`), and connection lifecycle events parsed from its log.
 *
 * ```ts
 * const ca = await LocalCa.create();
 * const broker = await MosquittoBroker.start({ ca, provisioningTemplateName: "smart-home-fleet" });
 * broker.on("client-connected", (e) => console.log(e.clientId, e.username));
 * const gateway = await broker.startClaimGateway();   // one per device that provisions concurrently
 * await broker.restart();                             // same port, persisted sessions
 * await broker.close();
 * ```
 *
 * Identities are certificate CNs (`use_identity_as_username`):
 * - the service identity (default `service`) may use every topic (the cloud side: responders, jobs, tests);
 * - the claim identity (default `claim`) may use only the fleet-provisioning topics of the template;
 * - any other CN is a thing: only `devices/<CN>/...` (commands in; responses, errors, telemetry out) and
 *   `$aws/things/<CN>/jobs/...`, like the AWS device policy scoped with `${iot:Connection.Thing.ThingName}`.
 *
 * Claim isolation: on AWS, `/accepted` and `/rejected` provisioning responses reach only the connection that
 * made the request. On a plain broker every claim client subscribed to those topics would receive every
 * response. A {@link ClaimGateway} gives one device its own small mosquitto whose MQTT bridge maps the
 * device's `$aws/...` provisioning topics to `claim/<n>/$aws/...` on this broker, so the provisioning
 * responder sees which gateway a request came from and its answer reaches only that device, on the exact
 * AWS topic. (`mount_point` listeners would be the one-process way, but mosquitto 2.0.11 does not strip the
 * mount point from outgoing topics — eclipse-mosquitto/mosquitto#2244, fixed in 2.0.12 — so a device would
 * receive `claim/<n>/$aws/...` instead of the AWS topic.)
 */
import { ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { EventEmitter, once } from "node:events";
import { promises as fs } from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { iot, mqtt5 } from "aws-iot-device-sdk-v2";
import { IssuedCertificate, LocalCa, writePemFiles } from "./pki";

/** Where Debian installs the broker; override with `MOSQUITTO_BIN` or the `mosquittoPath` option. */
export const DEFAULT_MOSQUITTO_PATH = process.env.MOSQUITTO_BIN ?? "/usr/sbin/mosquitto";

/** The kind of identity behind a connection, derived from its certificate CN. */
export type IdentityKind = "service" | "claim" | "gateway" | "thing";

/** AWS lifecycle `disconnectReason` values this broker can tell apart from mosquitto's log. */
export type DisconnectReason =
  | "CLIENT_INITIATED_DISCONNECT"
  | "CONNECTION_LOST"
  | "MQTT_KEEP_ALIVE_TIMEOUT"
  | "DUPLICATE_CLIENTID"
  | "CLIENT_ERROR"
  | "AUTH_ERROR"
  | "SERVER_INITIATED_DISCONNECT";

export interface ClientConnectedEvent {
  readonly clientId: string;
  /** Certificate CN (mosquitto's username with `use_identity_as_username`). */
  readonly username?: string;
  readonly identityKind: IdentityKind;
  /** Listener port the client connected to. */
  readonly listenerPort?: number;
  readonly remoteAddress: string;
  /** MQTT protocol level, e.g. `p5` for MQTT 5, `p4` for 3.1.1. */
  readonly protocol: string;
  readonly cleanStart: boolean;
  readonly keepAliveSeconds: number;
  /** Unique per connection, like AWS's lifecycle `sessionIdentifier`. */
  readonly sessionIdentifier: string;
  /** Epoch milliseconds. */
  readonly timestamp: number;
}

export interface ClientDisconnectedEvent {
  readonly clientId: string;
  readonly username?: string;
  readonly identityKind: IdentityKind;
  readonly sessionIdentifier: string;
  readonly disconnectReason: DisconnectReason;
  /** Epoch milliseconds. */
  readonly timestamp: number;
}

export interface BrokerOptions {
  /** CA that signs the broker's server certificate and that clients must chain to. */
  readonly ca: LocalCa;
  /** Working directory (config, certificates, ACL, persistence). @default a new temp dir */
  readonly dir?: string;
  /** @default a random free port on 127.0.0.1 */
  readonly port?: number;
  /** CN of the identity allowed on every topic. @default "service" */
  readonly serviceIdentity?: string;
  /** CN of the claim (bootstrap) certificate. @default "claim" */
  readonly claimIdentity?: string;
  /** CN the claim gateways' bridges use towards this broker. @default "claim-gateway" */
  readonly gatewayIdentity?: string;
  /** Template whose RegisterThing topics the claim identity may use. @default "+" (any) */
  readonly provisioningTemplateName?: string;
  /** Log every packet (mosquitto `log_type all`). @default false */
  readonly verbose?: boolean;
  /** @default DEFAULT_MOSQUITTO_PATH */
  readonly mosquittoPath?: string;
  /** How long to wait for mosquitto to come up. @default 10000 */
  readonly startTimeoutMs?: number;
}

/** Find a free TCP port on 127.0.0.1 (the port is released again before returning). */
export async function findFreePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The fleet-provisioning topics a claim identity may use (AWS claim policy). */
export function provisioningTopics(templateName: string): { publish: string[]; receive: string[] } {
  const requests = [
    "$aws/certificates/create-from-csr/json",
    "$aws/certificates/create/json",
    `$aws/provisioning-templates/${templateName}/provision/json`,
  ];
  return { publish: requests, receive: requests.flatMap((t) => [`${t}/accepted`, `${t}/rejected`]) };
}

/** Build the ACL file text that mirrors the AWS IoT policies (see the module comment). */
export function renderAcl(ids: { service: string; claim: string; gateway: string; templateName: string }): string {
  const topics = provisioningTopics(ids.templateName);
  return [
    "# Generated by local/broker.ts: mirrors the AWS IoT policies of the iot and fleet stacks.",
    "# Service identity: the cloud side (responders, jobs, controller).",
    `user ${ids.service}`,
    "topic readwrite #",
    "topic readwrite $aws/#",
    "",
    "# Bridges of the claim gateways: the per-device provisioning namespace claim/<n>/...",
    `user ${ids.gateway}`,
    "topic readwrite claim/#",
    "",
    "# Claim (bootstrap) identity: only the fleet-provisioning topics.",
    `user ${ids.claim}`,
    ...topics.publish.map((t) => `topic write ${t}`),
    ...topics.receive.map((t) => `topic read ${t}`),
    "",
    "# Every thing (certificate CN = thing name): its own topics only.",
    "pattern read devices/%u/commands",
    "pattern write devices/%u/responses",
    "pattern write devices/%u/errors",
    "pattern write devices/%u/telemetry",
    "pattern readwrite $aws/things/%u/jobs/#",
    "",
  ].join("\n");
}

export interface MosquittoProcessOptions {
  readonly configPath: string;
  readonly mosquittoPath: string;
  readonly startTimeoutMs: number;
  readonly name: string;
}

/** One mosquitto child process: start, stop, log lines. */
export class MosquittoProcess extends EventEmitter {
  private child?: ChildProcess;
  private exited?: Promise<void>;
  private stopping = false;

  constructor(private readonly options: MosquittoProcessOptions) {
    super();
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    if (this.child) return;
    const child = spawn(this.options.mosquittoPath, ["-c", this.options.configPath], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    this.stopping = false;
    const recent: string[] = [];
    let buffer = "";
    const onData = (chunk: Buffer): void => {
      buffer += chunk.toString("utf8");
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl).replace(/\r$/, "");
        buffer = buffer.slice(nl + 1);
        if (!line) continue;
        recent.push(line);
        if (recent.length > 50) recent.shift();
        this.emit("line", line);
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    this.exited = new Promise<void>((resolve) => {
      child.once("exit", (code, signal) => {
        this.child = undefined;
        this.emit("exit", { code, signal, expected: this.stopping });
        resolve();
      });
    });

    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        child.kill("SIGKILL");
        reject(new Error(`${this.options.name}: mosquitto did not start within ${this.options.startTimeoutMs} ms:\n${recent.join("\n")}`));
      }, this.options.startTimeoutMs);
      const onLine = (line: string): void => {
        if (/mosquitto version \S+ running/.test(line)) {
          cleanup();
          resolve();
        }
      };
      const onExit = (): void => {
        cleanup();
        reject(new Error(`${this.options.name}: mosquitto exited during start-up:\n${recent.join("\n")}`));
      };
      const onError = (err: Error): void => {
        cleanup();
        reject(new Error(`${this.options.name}: cannot run ${this.options.mosquittoPath}: ${err.message}`));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        this.off("line", onLine);
        this.off("exit", onExit);
        child.off("error", onError);
      };
      this.on("line", onLine);
      this.on("exit", onExit);
      child.on("error", onError);
    });
  }

  /** SIGTERM (mosquitto saves its persistence database), SIGKILL after `timeoutMs`. */
  async stop(timeoutMs = 5000): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.stopping = true;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}

const CONNECTION_RE = /^New connection from (\S+):(\d+) on port (\d+)\.$/;
const CONNECTED_RE = /^New client connected from (\S+):(\d+) as (.+) \((p\d+), c(\d), k(\d+)(?:, u'(.*)')?\)\.$/;
const DISCONNECT_PATTERNS: ReadonlyArray<[RegExp, DisconnectReason]> = [
  [/^Client (.+) already connected, closing old connection\.$/, "DUPLICATE_CLIENTID"],
  [/^Client (.+) has exceeded timeout, disconnecting\.$/, "MQTT_KEEP_ALIVE_TIMEOUT"],
  [/^Client (.+) disconnected, not authori[sz]ed\.$/, "AUTH_ERROR"],
  [/^Client (.+) disconnected due to .+\.$/, "CLIENT_ERROR"],
  [/^Client (.+) closed its connection\.$/, "CONNECTION_LOST"],
  [/^Client (.+) disconnected\.$/, "CLIENT_INITIATED_DISCONNECT"],
  [/^Socket error on client (.+), disconnecting\.$/, "CONNECTION_LOST"],
  [/^Bad socket read\/write on client (.+?): .*$/, "CONNECTION_LOST"],
];

/**
 * Turns mosquitto log lines into connect / disconnect events. Exposed for reuse by the twin's
 * lifecycle publisher and for tests; {@link MosquittoBroker} uses it on its own log.
 */
export class ConnectionTracker extends EventEmitter {
  private readonly listenerByRemote = new Map<string, number>();
  private readonly connected = new Map<string, ClientConnectedEvent>();

  constructor(private readonly classify: (username: string | undefined) => IdentityKind) {
    super();
  }

  /** Currently connected clients by client id. */
  clients(): ReadonlyMap<string, ClientConnectedEvent> {
    return this.connected;
  }

  /** Feed one log line (without mosquitto's timestamp prefix). */
  handleLine(line: string): void {
    let m = CONNECTION_RE.exec(line);
    if (m) {
      this.listenerByRemote.set(`${m[1]}:${m[2]}`, Number(m[3]));
      return;
    }
    m = CONNECTED_RE.exec(line);
    if (m) {
      const remoteAddress = `${m[1]}:${m[2]}`;
      const username = m[7];
      const event: ClientConnectedEvent = {
        clientId: m[3]!,
        username,
        identityKind: this.classify(username),
        listenerPort: this.listenerByRemote.get(remoteAddress),
        remoteAddress,
        protocol: m[4]!,
        cleanStart: m[5] === "1",
        keepAliveSeconds: Number(m[6]),
        sessionIdentifier: randomUUID(),
        timestamp: Date.now(),
      };
      this.listenerByRemote.delete(remoteAddress);
      this.connected.set(event.clientId, event);
      this.emit("client-connected", event);
      return;
    }
    for (const [re, reason] of DISCONNECT_PATTERNS) {
      m = re.exec(line);
      if (m) {
        this.disconnect(m[1]!, reason);
        return;
      }
    }
  }

  /** Mark every tracked client disconnected (the broker went away). */
  disconnectAll(reason: DisconnectReason): void {
    for (const clientId of [...this.connected.keys()]) this.disconnect(clientId, reason);
    this.listenerByRemote.clear();
  }

  private disconnect(clientId: string, reason: DisconnectReason): void {
    const state = this.connected.get(clientId);
    if (!state) return;
    this.connected.delete(clientId);
    const event: ClientDisconnectedEvent = {
      clientId,
      username: state.username,
      identityKind: state.identityKind,
      sessionIdentifier: state.sessionIdentifier,
      disconnectReason: reason,
      timestamp: Date.now(),
    };
    this.emit("client-disconnected", event);
  }
}

export interface MosquittoBroker {
  on(event: "client-connected", listener: (e: ClientConnectedEvent) => void): this;
  on(event: "client-disconnected", listener: (e: ClientDisconnectedEvent) => void): this;
  on(event: "log", listener: (line: string) => void): this;
  /** The process exited without `stop()` being called. */
  on(event: "crashed", listener: (info: { code: number | null; signal: string | null }) => void): this;
  on(event: "started" | "stopped", listener: () => void): this;
}

/** A mosquitto broker with mutual TLS on 127.0.0.1 (see the module comment). */
export class MosquittoBroker extends EventEmitter {
  /** Start a broker; resolves once it accepts connections. */
  static async start(options: BrokerOptions): Promise<MosquittoBroker> {
    const dir = options.dir ?? (await fs.mkdtemp(path.join(os.tmpdir(), "mosquitto-")));
    await fs.mkdir(path.join(dir, "data"), { recursive: true });
    const port = options.port ?? (await findFreePort());
    const broker = new MosquittoBroker(options, dir, port);
    await broker.prepare();
    await broker.start();
    return broker;
  }

  readonly host = "127.0.0.1";
  readonly serviceIdentity: string;
  readonly claimIdentity: string;
  readonly gatewayIdentity: string;
  readonly provisioningTemplateName: string;
  /** Path of the CA certificate clients must trust. */
  readonly caPath: string;
  private readonly process: MosquittoProcess;
  private readonly tracker: ConnectionTracker;
  private readonly gateways: ClaimGateway[] = [];
  private nextGatewayIndex = 1;

  private constructor(
    private readonly options: BrokerOptions,
    /** Working directory of this broker. */
    readonly dir: string,
    /** TLS port on 127.0.0.1 (kept across restarts). */
    readonly port: number,
  ) {
    super();
    this.serviceIdentity = options.serviceIdentity ?? "service";
    this.claimIdentity = options.claimIdentity ?? "claim";
    this.gatewayIdentity = options.gatewayIdentity ?? "claim-gateway";
    this.provisioningTemplateName = options.provisioningTemplateName ?? "+";
    this.caPath = path.join(dir, "ca.cert.pem");
    this.process = new MosquittoProcess({
      configPath: path.join(dir, "mosquitto.conf"),
      mosquittoPath: options.mosquittoPath ?? DEFAULT_MOSQUITTO_PATH,
      startTimeoutMs: options.startTimeoutMs ?? 10_000,
      name: `broker:${port}`,
    });
    this.tracker = new ConnectionTracker((username) => this.classify(username));
    this.tracker.on("client-connected", (e) => this.emit("client-connected", e));
    this.tracker.on("client-disconnected", (e) => this.emit("client-disconnected", e));
    this.process.on("line", (line: string) => {
      this.emit("log", line);
      this.tracker.handleLine(line);
    });
    this.process.on("exit", ({ code, signal, expected }) => {
      this.tracker.disconnectAll("SERVER_INITIATED_DISCONNECT");
      this.emit(expected ? "stopped" : "crashed", { code, signal });
    });
  }

  /** The CA this broker trusts. */
  get ca(): LocalCa {
    return this.options.ca;
  }

  /** `mqtts://127.0.0.1:<port>` */
  get url(): string {
    return `mqtts://${this.host}:${this.port}`;
  }

  get running(): boolean {
    return this.process.running;
  }

  /** Currently connected clients by client id. */
  connectedClients(): ReadonlyMap<string, ClientConnectedEvent> {
    return this.tracker.clients();
  }

  /** The identity kind of a certificate CN on this broker. */
  classify(username: string | undefined): IdentityKind {
    if (username === this.serviceIdentity) return "service";
    if (username === this.claimIdentity) return "claim";
    if (username === this.gatewayIdentity) return "gateway";
    return "thing";
  }

  /** Start (or start again after {@link stop}) on the same port with the same persistence. */
  async start(): Promise<void> {
    await this.process.start();
    this.emit("started");
  }

  /** Stop gracefully; mosquitto writes its persistence database, so sessions survive {@link start}. */
  async stop(): Promise<void> {
    await this.process.stop();
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Stop the broker and every claim gateway. The working directory is left for inspection. */
  async close(): Promise<void> {
    await Promise.all(this.gateways.splice(0).map((g) => g.stop()));
    await this.stop();
  }

  /** Resolve when `clientId` is connected (or already is). */
  async waitForClient(clientId: string, timeoutMs = 15_000): Promise<ClientConnectedEvent> {
    const existing = this.tracker.clients().get(clientId);
    if (existing) return existing;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off("client-connected", onConnected);
        reject(new Error(`client ${clientId} did not connect to ${this.url} within ${timeoutMs} ms`));
      }, timeoutMs);
      const onConnected = (e: ClientConnectedEvent): void => {
        if (e.clientId !== clientId) return;
        clearTimeout(timer);
        this.off("client-connected", onConnected);
        resolve(e);
      };
      this.on("client-connected", onConnected);
    });
  }

  /** Issue a client certificate (CN = identity) from this broker's CA. */
  issueClientCertificate(identity: string): Promise<IssuedCertificate> {
    return this.options.ca.issueClientCertificate(identity);
  }

  /**
   * Connect a cloud-side client with the service identity (allowed on every topic), issuing its
   * certificate unless `credentials` are given.
   */
  async connectService(options: { clientId: string; credentials?: IssuedCertificate; sessionExpirySeconds?: number }): Promise<MqttTestClient> {
    return MqttTestClient.connect({
      host: this.host,
      port: this.port,
      caPem: this.ca.certPem,
      credentials: options.credentials ?? (await this.issueClientCertificate(this.serviceIdentity)),
      clientId: options.clientId,
      sessionExpirySeconds: options.sessionExpirySeconds,
    });
  }

  /**
   * Start a claim gateway: a private endpoint for one provisioning device whose requests reach this
   * broker as `claim/<n>/$aws/...` and whose responses come back on the plain AWS topics.
   */
  async startClaimGateway(): Promise<ClaimGateway> {
    const index = this.nextGatewayIndex++;
    const gateway = new ClaimGateway(this, index, path.join(this.dir, `claim-gateway-${index}`), {
      mosquittoPath: this.options.mosquittoPath ?? DEFAULT_MOSQUITTO_PATH,
      startTimeoutMs: this.options.startTimeoutMs ?? 10_000,
    });
    const bridgeUp = this.waitForClient(gateway.bridgeClientId);
    await gateway.start();
    await bridgeUp;
    this.gateways.push(gateway);
    return gateway;
  }

  /** The gateway whose topic namespace is `claim/<index>/`, if any. */
  claimGateway(index: number): ClaimGateway | undefined {
    return this.gateways.find((g) => g.index === index);
  }

  private async prepare(): Promise<void> {
    const ca = this.options.ca;
    await fs.writeFile(this.caPath, ca.certPem, { mode: 0o644 });
    const server = await ca.issueServerCertificate("localhost", { dnsNames: ["localhost"], ipAddresses: [this.host] });
    const serverFiles = await writePemFiles(this.dir, "server", server);
    const gateway = await ca.issueClientCertificate(this.gatewayIdentity);
    await writePemFiles(this.dir, "gateway", gateway);
    await fs.writeFile(
      path.join(this.dir, "acl"),
      renderAcl({
        service: this.serviceIdentity,
        claim: this.claimIdentity,
        gateway: this.gatewayIdentity,
        templateName: this.provisioningTemplateName,
      }),
    );
    const config = [
      ...commonConfigLines(this.options.verbose ?? false),
      `acl_file ${path.join(this.dir, "acl")}`,
      "persistence true",
      `persistence_location ${path.join(this.dir, "data")}${path.sep}`,
      "autosave_interval 30",
      "max_queued_messages 1000",
      ...tlsListenerLines(this.port, this.host, this.caPath, serverFiles.certPath, serverFiles.keyPath),
    ];
    await fs.writeFile(path.join(this.dir, "mosquitto.conf"), config.join("\n") + "\n");
  }

  /** @internal used by ClaimGateway */
  get serverCertPaths(): { certPath: string; keyPath: string } {
    return { certPath: path.join(this.dir, "server.cert.pem"), keyPath: path.join(this.dir, "server.key.pem") };
  }

  /** @internal used by ClaimGateway */
  get gatewayCertPaths(): { certPath: string; keyPath: string } {
    return { certPath: path.join(this.dir, "gateway.cert.pem"), keyPath: path.join(this.dir, "gateway.key.pem") };
  }
}

export function commonConfigLines(verbose: boolean): string[] {
  const lines: string[] = [];
  // Started as root, mosquitto would switch to the `mosquitto` user, which cannot read our 0600 keys.
  if (typeof process.getuid === "function" && process.getuid() === 0) lines.push("user root");
  lines.push(
    "per_listener_settings false",
    "allow_anonymous false",
    "log_dest stderr",
    ...(verbose ? ["log_type all"] : ["log_type error", "log_type warning", "log_type notice", "log_type information"]),
    "log_timestamp false",
    "connection_messages true",
    "set_tcp_nodelay true",
  );
  return lines;
}

function tlsListenerLines(port: number, host: string, caPath: string, certPath: string, keyPath: string): string[] {
  return [
    `listener ${port} ${host}`,
    `cafile ${caPath}`,
    `certfile ${certPath}`,
    `keyfile ${keyPath}`,
    "require_certificate true",
    "use_identity_as_username true",
  ];
}

/**
 * A private provisioning endpoint for one device (see the module comment). Point the device's
 * provisioning connection at `host:port`; its requests arrive at the main broker under
 * {@link routePrefix}.
 */
export class ClaimGateway {
  readonly host = "127.0.0.1";
  /** `claim/<index>/` */
  readonly routePrefix: string;
  /** Client id of the gateway's bridge on the main broker. */
  readonly bridgeClientId: string;
  private readonly process: MosquittoProcess;
  private readonly tracker: ConnectionTracker;
  private portNumber = 0;

  /** @internal created by {@link MosquittoBroker.startClaimGateway} */
  constructor(
    private readonly broker: MosquittoBroker,
    readonly index: number,
    private readonly dir: string,
    options: { mosquittoPath: string; startTimeoutMs: number },
  ) {
    this.routePrefix = `claim/${index}/`;
    this.bridgeClientId = `claim-gateway-${index}`;
    this.process = new MosquittoProcess({
      configPath: path.join(dir, "mosquitto.conf"),
      mosquittoPath: options.mosquittoPath,
      startTimeoutMs: options.startTimeoutMs,
      name: `claim-gateway-${index}`,
    });
    this.tracker = new ConnectionTracker((username) => broker.classify(username));
    this.process.on("line", (line: string) => this.tracker.handleLine(line));
    this.process.on("exit", () => this.tracker.disconnectAll("SERVER_INITIATED_DISCONNECT"));
  }

  get port(): number {
    return this.portNumber;
  }

  /** Client ids of the devices connected to this gateway right now. */
  connectedClientIds(): string[] {
    return [...this.tracker.clients().values()].filter((c) => c.identityKind !== "gateway").map((c) => c.clientId);
  }

  /** @internal */
  async start(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
    if (!this.portNumber) this.portNumber = await findFreePort();
    const b = this.broker;
    const server = b.serverCertPaths;
    const bridgeCert = b.gatewayCertPaths;
    const topics = provisioningTopics("+");
    const aclLines = [
      `user ${b.claimIdentity}`,
      ...provisioningTopics(b.provisioningTemplateName).publish.map((t) => `topic write ${t}`),
      ...provisioningTopics(b.provisioningTemplateName).receive.map((t) => `topic read ${t}`),
    ];
    await fs.writeFile(path.join(this.dir, "acl"), aclLines.join("\n") + "\n");
    const config = [
      ...commonConfigLines(false),
      `acl_file ${path.join(this.dir, "acl")}`,
      "persistence false",
      ...tlsListenerLines(this.portNumber, this.host, b.caPath, server.certPath, server.keyPath),
      `connection ${this.bridgeClientId}`,
      `address ${b.host}:${b.port}`,
      "bridge_protocol_version mqttv50",
      `bridge_cafile ${b.caPath}`,
      `bridge_certfile ${bridgeCert.certPath}`,
      `bridge_keyfile ${bridgeCert.keyPath}`,
      `remote_clientid ${this.bridgeClientId}`,
      "cleansession true",
      "notifications false",
      "try_private false",
      "start_type automatic",
      "restart_timeout 1 5",
      ...topics.publish.map((t) => `topic ${t} out 1 "" ${this.routePrefix}`),
      ...topics.receive.map((t) => `topic ${t} in 1 "" ${this.routePrefix}`),
    ];
    await fs.writeFile(path.join(this.dir, "mosquitto.conf"), config.join("\n") + "\n");
    await this.process.start();
  }

  async stop(): Promise<void> {
    await this.process.stop();
  }
}

/** TLS client material for {@link MqttTestClient}. */
export interface ClientCredentials {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface MqttTestClientOptions {
  readonly host: string;
  readonly port: number;
  readonly caPem: string;
  readonly credentials: ClientCredentials;
  readonly clientId: string;
  /** @default 10000 */
  readonly connectTimeoutMs?: number;
  /**
   * Keep the session (subscriptions and queued QoS 1 messages) this long while disconnected, e.g. across
   * a broker restart. @default 0 (clean session)
   */
  readonly sessionExpirySeconds?: number;
}

export type MessageHandler = (topic: string, payload: Buffer) => void;

/**
 * A small MQTT 5 client over mutual TLS (aws-crt, like the device) for service-side code and tests:
 * the provisioning responder, the jobs stand-in, test observers.
 */
export class MqttTestClient {
  /** Connect with the given identity; resolves on CONNACK, rejects on the first connection failure. */
  static async connect(options: MqttTestClientOptions): Promise<MqttTestClient> {
    const builder = iot.AwsIotMqtt5ClientConfigBuilder.newDirectMqttBuilderWithMtlsFromMemory(
      options.host,
      options.credentials.certPem,
      options.credentials.keyPem,
    );
    builder
      .withPort(options.port)
      .withCertificateAuthority(options.caPem)
      .withConnectProperties({
        clientId: options.clientId,
        keepAliveIntervalSeconds: 30,
        ...(options.sessionExpirySeconds ? { sessionExpiryIntervalSeconds: options.sessionExpirySeconds } : {}),
      })
      .withSessionBehavior(options.sessionExpirySeconds ? mqtt5.ClientSessionBehavior.RejoinAlways : mqtt5.ClientSessionBehavior.Clean)
      .withMinReconnectDelayMs(200)
      .withMaxReconnectDelayMs(2000)
      .withRetryJitterMode(mqtt5.RetryJitterType.Decorrelated);
    const config = builder.build();
    config.disableMetrics = true;
    const client = new mqtt5.Mqtt5Client(config);
    const wrapper = new MqttTestClient(client);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${options.clientId}: no CONNACK within ${options.connectTimeoutMs ?? 10_000} ms`));
      }, options.connectTimeoutMs ?? 10_000);
      const onSuccess = (): void => {
        cleanup();
        resolve();
      };
      const onFailure = (e: mqtt5.ConnectionFailureEvent): void => {
        cleanup();
        reject(new Error(`${options.clientId}: connection failed: ${e.error.toString()}`));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        client.off("connectionSuccess", onSuccess);
        client.off("connectionFailure", onFailure);
      };
      client.on("connectionSuccess", onSuccess);
      client.on("connectionFailure", onFailure);
      client.start();
    }).catch(async (err) => {
      await wrapper.close();
      throw err;
    });
    return wrapper;
  }

  private readonly handlers = new Set<MessageHandler>();
  /** Filters subscribed so far, re-subscribed after a reconnect that found no session (e.g. a broker restart). */
  private readonly subscriptions = new Map<string, mqtt5.QoS>();
  private connectedBefore = false;
  private closed = false;

  private constructor(private readonly client: mqtt5.Mqtt5Client) {
    client.on("messageReceived", (e) => {
      const payload = toBuffer(e.message.payload);
      for (const handler of this.handlers) handler(e.message.topicName, payload);
    });
    client.on("connectionSuccess", (e) => {
      if (this.connectedBefore && !e.connack.sessionPresent && this.subscriptions.size > 0) {
        const subscriptions = [...this.subscriptions].map(([topicFilter, qos]) => ({ topicFilter, qos }));
        client.subscribe({ subscriptions }).catch(() => undefined);
      }
      this.connectedBefore = true;
    });
  }

  /** Subscribe (QoS 1 by default); rejects when the broker refuses a filter. */
  async subscribe(topicFilters: readonly string[], qos: mqtt5.QoS = mqtt5.QoS.AtLeastOnce): Promise<void> {
    const suback = await this.client.subscribe({ subscriptions: topicFilters.map((topicFilter) => ({ topicFilter, qos })) });
    const refused = suback.reasonCodes.map((code, i) => [topicFilters[i], code] as const).filter(([, code]) => code >= 0x80);
    if (refused.length > 0) throw new Error(`subscription refused: ${refused.map(([t, c]) => `${t} (${c})`).join(", ")}`);
    for (const topicFilter of topicFilters) this.subscriptions.set(topicFilter, qos);
  }

  /** Publish JSON (objects) or text; QoS 1 resolves on PUBACK and rejects on a failure reason code. */
  async publish(topic: string, payload: string | Buffer | object, qos: mqtt5.QoS = mqtt5.QoS.AtLeastOnce): Promise<void> {
    const body = typeof payload === "string" || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload);
    const result = await this.client.publish({ topicName: topic, payload: body, qos });
    if (result && result.reasonCode >= 0x80) throw new Error(`publish to ${topic} refused with reason code ${result.reasonCode}`);
  }

  /** Add a message handler; returns a function that removes it. */
  onMessage(handler: MessageHandler): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /** Disconnect and release the native client. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 3000);
      this.client.once("stopped", () => {
        clearTimeout(timer);
        resolve();
      });
      this.client.stop();
    });
    this.client.close();
  }
}

/** A payload that must be a JSON object (not an array or a scalar), or undefined when it is not. */
export function parseJsonObject(payload: Buffer): Record<string, unknown> | undefined {
  try {
    const parsed = JSON.parse(payload.toString("utf8")) as unknown;
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** An MQTT payload (string, ArrayBuffer, view or undefined) as a Buffer. */
export function toBuffer(payload: unknown): Buffer {
  if (payload === undefined || payload === null) return Buffer.alloc(0);
  if (typeof payload === "string") return Buffer.from(payload, "utf8");
  if (Buffer.isBuffer(payload)) return payload;
  if (payload instanceof ArrayBuffer) return Buffer.from(payload);
  if (ArrayBuffer.isView(payload)) return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  return Buffer.from(JSON.stringify(payload), "utf8");
}
