/**
 * MQTT plumbing shared by the twin and the tests: the mosquitto process helpers (the broker behind the
 * twin's IoT front end, `iot-core/backend.ts`) and a small MQTT 5 client over mutual TLS on the AWS IoT
 * Device SDK (`MqttTestClient`), with which the twin's own service clients and the tests connect to the
 * front end.
 *
 * ```ts
 * const client = await MqttTestClient.connect({ host, port, caPem, credentials, clientId: "local-twin-service-rules" });
 * client.onMessage((topic, payload) => ...);
 * await client.subscribe(["devices/+/errors"]);
 * ```
 */
import { ChildProcess, spawn } from "node:child_process";
import { EventEmitter, once } from "node:events";
import * as net from "node:net";
import { iot, mqtt5 } from "aws-iot-device-sdk-v2";

/** Where Debian installs the broker; override with `MOSQUITTO_BIN` or the `mosquittoPath` option. */
export const DEFAULT_MOSQUITTO_PATH = process.env.MOSQUITTO_BIN ?? "/usr/sbin/mosquitto";

/** Find a free TCP port on 127.0.0.1 (the port is released again before returning). */
export async function findFreePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
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
