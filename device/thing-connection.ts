/**
 * The running device's MQTT connection as its thing (client id = thing name). It holds one client at a
 * time: certificate rotation replaces it with a client for the new pair under the same client id, and
 * events of a replaced client are ignored. Provisioning-API answers (`<topic>/accepted|rejected`) of
 * {@link exchange} are taken here; every other message goes to `onMessage`.
 */
import { mqtt5 } from "aws-iot-device-sdk-v2";
import { DeviceConfig } from "./config";
import type { IdentityPaths } from "./identity-files";
import { Logger } from "./log";
import { createMqttClient, payloadText, shutdownMqttClient } from "./mqtt";
import { ExchangeAnswer, MqttExchange } from "./mqtt-exchange";

export interface ThingConnectionOptions {
  readonly config: DeviceConfig;
  readonly thingName: string;
  readonly log: Logger;
  /** Connected (again); `connected` is already true. */
  readonly onConnected: (sessionPresent: boolean) => void;
  readonly onConnectionFailure: () => void;
  readonly onDisconnected: (error: string) => void;
  readonly onMessage: (topic: string, text: string) => void;
}

export class ThingConnection {
  private current: mqtt5.Mqtt5Client;
  private isConnected = false;
  /** `<topic>/accepted|rejected` answers of AWS IoT's MQTT provisioning API on this connection (rotation). */
  private readonly answers = new MqttExchange();

  constructor(
    private readonly o: ThingConnectionOptions,
    identity: IdentityPaths,
  ) {
    this.current = this.createClient(identity);
  }

  /** The current client (publish and subscribe through it; do not keep it across a certificate switch). */
  get client(): mqtt5.Mqtt5Client {
    return this.current;
  }

  get connected(): boolean {
    return this.isConnected;
  }

  /** Start connecting; the client keeps reconnecting until shutdown. */
  start(): void {
    this.current.start();
  }

  /** Put a client for another certificate in place (not started) and close the old connection. */
  async replace(identity: IdentityPaths): Promise<void> {
    const old = this.current;
    this.isConnected = false;
    this.current = this.createClient(identity);
    await shutdownMqttClient(old);
  }

  /** Disconnect (with a DISCONNECT packet) and release the client. */
  async shutdown(): Promise<void> {
    await shutdownMqttClient(this.current);
    this.isConnected = false;
  }

  /** One provisioning-API request on the current connection (see MqttExchange.request). */
  exchange(topic: string, body: unknown, timeoutMs: number): Promise<ExchangeAnswer> {
    return this.answers.request(this.current, topic, body, timeoutMs);
  }

  private createClient(identity: IdentityPaths): mqtt5.Mqtt5Client {
    const { config, log } = this.o;
    const client = createMqttClient({
      host: config.endpoint,
      port: config.port,
      caFile: config.caFile,
      certFile: identity.certFile,
      keyFile: identity.keyFile,
      clientId: this.o.thingName,
      keepAliveSeconds: config.keepAliveSeconds,
      sessionExpirySeconds: config.sessionExpirySeconds,
      minReconnectDelayMs: config.reconnect.minDelayMs,
      maxReconnectDelayMs: config.reconnect.maxDelayMs,
      resetReconnectDelayAfterMs: config.reconnect.resetAfterMs,
    });
    const current = (): boolean => client === this.current;
    client.on("connectionSuccess", (e) => {
      if (!current()) return;
      this.isConnected = true;
      this.o.onConnected(e.connack.sessionPresent);
    });
    client.on("connectionFailure", (e) => {
      if (!current()) return;
      log.warn("connection attempt failed", { error: e.error.toString() });
      this.o.onConnectionFailure();
    });
    client.on("disconnection", (e) => {
      if (!current()) return;
      this.isConnected = false;
      log.warn("disconnected", { error: e.error.toString() });
      this.o.onDisconnected(e.error.toString());
    });
    client.on("messageReceived", (e) => {
      if (!current()) return;
      const topic = e.message.topicName;
      const text = payloadText(e.message.payload);
      if (!this.answers.handle(topic, text)) this.o.onMessage(topic, text);
    });
    client.on("error", (e) => log.error("mqtt client error", { error: e.toString() }));
    return client;
  }
}
