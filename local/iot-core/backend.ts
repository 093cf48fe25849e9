/**
 * The delivery side of the twin's MQTT front end: a mosquitto on 127.0.0.1 that only the front end can
 * use, and one small MQTT 5 client connection to it per device connection.
 *
 * ```ts
 * const backend = await MosquittoBackend.start();
 * const link = new BackendConnection(backend.credentials, { clientId: "fe/pi-1", sessionExpirySeconds: 0 });
 * link.on("message", (packet) => ...);           // PUBLISH from mosquitto; QoS 1 ones need link.ack(id)
 * await link.connect(true);
 * await link.subscribe([{ topic: "devices/pi-1/commands", qos: 1 }]);
 * await backend.restart();                      // links reconnect by themselves and re-subscribe
 * ```
 *
 * Why mosquitto cannot be reached around the front end: its only listener is on 127.0.0.1 (no TLS, no
 * client certificates) and needs a user name and a random password made for this run; mosquitto keeps
 * only its PBKDF2 hash. Devices hold neither.
 */
import { randomBytes, pbkdf2Sync } from "node:crypto";
import { EventEmitter } from "node:events";
import { promises as fs } from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as mqtt from "mqtt-packet";
import { DEFAULT_MOSQUITTO_PATH, MosquittoProcess, commonConfigLines, findFreePort } from "../broker";

/** Where and how the front end logs in to the backend mosquitto. */
export interface BackendCredentials {
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly password: string;
}

export interface MosquittoBackendOptions {
  /** Working directory (config, password file, persistence). @default a new temp dir */
  readonly dir?: string;
  /** @default a random free port on 127.0.0.1 */
  readonly port?: number;
  /** @default DEFAULT_MOSQUITTO_PATH */
  readonly mosquittoPath?: string;
  /** Log every packet. @default false */
  readonly verbose?: boolean;
}

/** mosquitto 2.0's password-file hash: `$7$<iterations>$<salt b64>$<PBKDF2-SHA512 b64>`. */
export function mosquittoPasswordHash(password: string, salt: Buffer = randomBytes(12), iterations = 101): string {
  const hash = pbkdf2Sync(password, salt, iterations, 64, "sha512");
  return `$7$${iterations}$${salt.toString("base64")}$${hash.toString("base64")}`;
}

/** The backend mosquitto process (see the module comment). */
export class MosquittoBackend {
  static async start(options: MosquittoBackendOptions = {}): Promise<MosquittoBackend> {
    const dir = options.dir ?? (await fs.mkdtemp(path.join(os.tmpdir(), "twin-backend-")));
    await fs.mkdir(path.join(dir, "data"), { recursive: true });
    const port = options.port ?? (await findFreePort());
    const credentials: BackendCredentials = { host: "127.0.0.1", port, username: "twin-frontend", password: randomBytes(24).toString("hex") };
    await fs.writeFile(path.join(dir, "passwd"), `${credentials.username}:${mosquittoPasswordHash(credentials.password)}\n`, { mode: 0o600 });
    const config = [
      ...commonConfigLines(options.verbose ?? false),
      `password_file ${path.join(dir, "passwd")}`,
      "persistence true",
      `persistence_location ${path.join(dir, "data")}${path.sep}`,
      "autosave_interval 30",
      "max_queued_messages 1000",
      `listener ${port} ${credentials.host}`,
    ];
    await fs.writeFile(path.join(dir, "mosquitto.conf"), config.join("\n") + "\n");
    const process = new MosquittoProcess({
      configPath: path.join(dir, "mosquitto.conf"),
      mosquittoPath: options.mosquittoPath ?? DEFAULT_MOSQUITTO_PATH,
      startTimeoutMs: 10_000,
      name: `twin-backend:${port}`,
    });
    await process.start();
    return new MosquittoBackend(process, credentials, dir, options.dir === undefined);
  }

  private constructor(
    private readonly process: MosquittoProcess,
    readonly credentials: BackendCredentials,
    /** Working directory of this mosquitto. */
    readonly dir: string,
    private readonly ownsDir: boolean,
  ) {}

  get running(): boolean {
    return this.process.running;
  }

  /** Stop and start again on the same port; persisted sessions survive. */
  async restart(): Promise<void> {
    await this.process.stop();
    await this.process.start();
  }

  async stop(): Promise<void> {
    await this.process.stop();
  }

  async start(): Promise<void> {
    await this.process.start();
  }

  /** Stop for good; a working directory this backend made itself is removed. */
  async close(): Promise<void> {
    await this.process.stop();
    if (this.ownsDir) await fs.rm(this.dir, { recursive: true, force: true });
  }
}

export interface BackendConnectionOptions {
  /** Client id at mosquitto, derived from the device's (see `backendClientId`). */
  readonly clientId: string;
  /** 0 = the session ends with the connection. */
  readonly sessionExpirySeconds: number;
  /** The device's will, passed to mosquitto so that it publishes it on an abnormal end. */
  readonly will?: mqtt.IConnectPacket["will"];
  /** Delay between reconnect attempts. @default 200 */
  readonly reconnectDelayMs?: number;
}

type Pending = { readonly packet: mqtt.Packet; readonly resolve: (codes: number[]) => void };

/**
 * One MQTT 5 connection from the front end to the backend mosquitto. It reconnects by itself when
 * mosquitto goes away, resends what was not acknowledged, and re-subscribes when the session was lost.
 */
export class BackendConnection extends EventEmitter {
  private socket?: net.Socket;
  private connected = false;
  private ended = false;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly subscriptions = new Map<string, mqtt.ISubscription>();
  private reconnectTimer?: NodeJS.Timeout;

  constructor(
    private readonly credentials: BackendCredentials,
    private readonly options: BackendConnectionOptions,
  ) {
    super();
  }

  /** First connection; resolves with mosquitto's session-present flag, rejects when mosquitto is unreachable. */
  connect(cleanStart: boolean): Promise<{ sessionPresent: boolean }> {
    return this.open(cleanStart);
  }

  /** Publish; resolves with mosquitto's PUBACK reason code (QoS 0: at once with 0). */
  publish(packet: Pick<mqtt.IPublishPacket, "topic" | "payload" | "qos" | "retain" | "properties">): Promise<number> {
    if (packet.qos === 0) {
      if (this.connected) this.write({ cmd: "publish", dup: false, ...packet });
      return Promise.resolve(0);
    }
    return this.request((messageId) => ({ cmd: "publish", dup: false, messageId, ...packet })).then((codes) => codes[0] ?? 0);
  }

  /** Subscribe; resolves with one granted QoS / reason code per filter. */
  async subscribe(subscriptions: mqtt.ISubscription[]): Promise<number[]> {
    for (const s of subscriptions) this.subscriptions.set(s.topic, s);
    return this.request((messageId) => ({ cmd: "subscribe", messageId, subscriptions }));
  }

  async unsubscribe(filters: string[]): Promise<number[]> {
    for (const f of filters) this.subscriptions.delete(f);
    return this.request((messageId) => ({ cmd: "unsubscribe", messageId, unsubscriptions: filters }));
  }

  /** Acknowledge a QoS 1 message mosquitto delivered. */
  ack(messageId: number): void {
    if (this.connected) this.write({ cmd: "puback", messageId, reasonCode: 0 });
  }

  /** Orderly end: DISCONNECT with `reasonCode` (0x04 asks mosquitto to publish the will). */
  end(reasonCode = 0): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.reconnectTimer);
    if (this.connected) this.write({ cmd: "disconnect", reasonCode });
    this.socket?.end();
    this.failPending();
  }

  /** Abrupt end without DISCONNECT: mosquitto publishes the will, as AWS does on a lost connection. */
  destroy(): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.reconnectTimer);
    this.socket?.destroy();
    this.failPending();
  }

  private request(build: (messageId: number) => mqtt.Packet): Promise<number[]> {
    if (this.ended) return Promise.resolve([0x80]);
    const messageId = this.allocateId();
    const packet = build(messageId);
    return new Promise((resolve) => {
      this.pending.set(messageId, { packet, resolve });
      if (this.connected) this.write(packet);
    });
  }

  private allocateId(): number {
    for (let i = 0; i < 65535; i++) {
      const id = this.nextId;
      this.nextId = (this.nextId % 65535) + 1;
      if (!this.pending.has(id)) return id;
    }
    throw new Error("no free packet identifier towards the backend");
  }

  private failPending(): void {
    for (const p of this.pending.values()) p.resolve([0x80]);
    this.pending.clear();
  }

  private write(packet: mqtt.Packet): void {
    this.socket?.write(mqtt.generate(packet, { protocolVersion: 5 }));
  }

  private open(cleanStart: boolean): Promise<{ sessionPresent: boolean }> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(this.credentials.port, this.credentials.host);
      const parser = mqtt.parser({ protocolVersion: 5 });
      let settled = false;
      this.socket = socket;
      socket.setNoDelay(true);
      socket.on("connect", () => {
        this.writeTo(socket, {
          cmd: "connect",
          protocolId: "MQTT",
          protocolVersion: 5,
          clientId: this.options.clientId,
          clean: cleanStart,
          keepalive: 0, // loopback: no keep-alive needed; a dead mosquitto closes the socket
          username: this.credentials.username,
          password: Buffer.from(this.credentials.password),
          ...(this.options.will ? { will: this.options.will } : {}),
          properties: { sessionExpiryInterval: this.options.sessionExpirySeconds },
        });
      });
      socket.on("data", (chunk) => parser.parse(chunk));
      parser.on("error", () => socket.destroy());
      parser.on("packet", (packet: mqtt.Packet) => {
        if (packet.cmd === "connack") {
          const code = packet.reasonCode ?? packet.returnCode ?? 0;
          if (code !== 0) {
            settled = true;
            socket.destroy();
            reject(new Error(`backend mosquitto refused the connection with reason code ${code}`));
            return;
          }
          this.connected = true;
          settled = true;
          this.afterConnack(packet.sessionPresent);
          resolve({ sessionPresent: packet.sessionPresent });
          return;
        }
        this.handle(packet);
      });
      socket.on("error", () => undefined);
      socket.on("close", () => {
        if (this.socket === socket) this.connected = false;
        if (!settled) {
          settled = true;
          reject(new Error(`backend mosquitto at ${this.credentials.host}:${this.credentials.port} is unreachable`));
          return;
        }
        if (!this.ended && this.socket === socket) this.scheduleReconnect();
      });
    });
  }

  private writeTo(socket: net.Socket, packet: mqtt.Packet): void {
    socket.write(mqtt.generate(packet, { protocolVersion: 5 }));
  }

  private afterConnack(sessionPresent: boolean): void {
    if (!sessionPresent && this.subscriptions.size > 0) {
      // The session did not survive (clean session, or mosquitto lost it): subscribe again first.
      const messageId = this.allocateId();
      this.pending.set(messageId, { packet: { cmd: "subscribe", messageId, subscriptions: [...this.subscriptions.values()] }, resolve: () => undefined });
    }
    for (const p of this.pending.values()) {
      this.write(p.packet.cmd === "publish" ? { ...p.packet, dup: true } : p.packet);
    }
  }

  private scheduleReconnect(): void {
    this.emit("interrupted");
    this.reconnectTimer = setTimeout(() => {
      if (this.ended) return;
      this.open(false).then(
        () => this.emit("resumed"),
        () => {
          if (!this.ended) this.scheduleReconnect();
        },
      );
    }, this.options.reconnectDelayMs ?? 200);
  }

  private handle(packet: mqtt.Packet): void {
    switch (packet.cmd) {
      case "publish":
        this.emit("message", packet);
        return;
      case "puback":
      case "suback":
      case "unsuback": {
        const pending = packet.messageId === undefined ? undefined : this.pending.get(packet.messageId);
        if (!pending) return;
        this.pending.delete(packet.messageId!);
        if (packet.cmd === "puback") pending.resolve([packet.reasonCode ?? 0]);
        else pending.resolve(((packet as mqtt.ISubackPacket).granted as number[]) ?? []);
        return;
      }
      case "disconnect":
        // Taken over or shut down: the socket closes next and the reconnect logic decides.
        return;
      default:
        return;
    }
  }
}
