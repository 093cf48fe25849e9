/**
 * The AWS IoT Device SDK's MQTT 5 client (aws-crt), built the way `device/mqtt.ts` builds it, with the
 * raw reason codes kept for the front-end tests.
 */
import { iot, iotidentity, mqtt5 } from "aws-iot-device-sdk-v2";
import { shutdownMqttClient } from "../../../device/mqtt";
import { toBuffer } from "../../../local/broker";

export interface SdkClientOptions {
  readonly port: number;
  readonly caPem: string;
  readonly credentials: { readonly certPem: string; readonly keyPem: string };
  readonly clientId: string;
  readonly sessionExpirySeconds?: number;
}

export interface ReceivedMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly retain: boolean;
}

/** Thrown when the CONNACK refuses; `reasonCode` is the CONNACK's (undefined: no CONNACK, e.g. TLS failure). */
export class ConnectRefused extends Error {
  constructor(
    readonly reasonCode: number | undefined,
    message: string,
  ) {
    super(message);
  }
}

export class SdkClient {
  static async connect(options: SdkClientOptions): Promise<SdkClient> {
    const builder = iot.AwsIotMqtt5ClientConfigBuilder.newDirectMqttBuilderWithMtlsFromMemory(
      "127.0.0.1",
      options.credentials.certPem,
      options.credentials.keyPem,
    );
    const persistent = (options.sessionExpirySeconds ?? 0) > 0;
    builder
      .withPort(options.port)
      .withCertificateAuthority(options.caPem)
      .withConnectProperties({
        clientId: options.clientId,
        keepAliveIntervalSeconds: 60,
        ...(persistent ? { sessionExpiryIntervalSeconds: options.sessionExpirySeconds } : {}),
      })
      .withSessionBehavior(persistent ? mqtt5.ClientSessionBehavior.RejoinAlways : mqtt5.ClientSessionBehavior.Clean)
      .withMinReconnectDelayMs(200)
      .withMaxReconnectDelayMs(1000);
    const config = builder.build();
    config.disableMetrics = true;
    const client = new mqtt5.Mqtt5Client(config);
    const wrapper = new SdkClient(client);
    try {
      await new Promise<void>((resolve, reject) => {
        client.once("connectionSuccess", () => resolve());
        client.once("connectionFailure", (e) => reject(new ConnectRefused(e.connack?.reasonCode, `${options.clientId}: ${e.error.toString()}`)));
        client.start();
      });
    } catch (err) {
      await wrapper.close();
      throw err;
    }
    return wrapper;
  }

  readonly messages: ReceivedMessage[] = [];
  readonly disconnections: mqtt5.DisconnectionEvent[] = [];
  private closed = false;

  private constructor(readonly client: mqtt5.Mqtt5Client) {
    client.on("messageReceived", (e) => {
      this.messages.push({ topic: e.message.topicName, payload: toBuffer(e.message.payload), retain: e.message.retain ?? false });
    });
    client.on("disconnection", (e) => this.disconnections.push(e));
  }

  /** SUBACK reason codes, one per filter. */
  async subscribe(filters: string[], qos = mqtt5.QoS.AtLeastOnce): Promise<number[]> {
    const suback = await this.client.subscribe({ subscriptions: filters.map((topicFilter) => ({ topicFilter, qos })) });
    return suback.reasonCodes;
  }

  /** PUBACK reason code for QoS 1 (0 for QoS 0). */
  async publish(topic: string, payload: string | Buffer, options: { qos?: mqtt5.QoS; retain?: boolean } = {}): Promise<number> {
    const result = await this.client.publish({
      topicName: topic,
      payload,
      qos: options.qos ?? mqtt5.QoS.AtLeastOnce,
      ...(options.retain ? { retain: true } : {}),
    });
    return result?.reasonCode ?? 0;
  }

  /** Wait until a message on `topic` arrived (resolves with it) or fail after `timeoutMs`. */
  async waitForMessage(topic: string, timeoutMs = 5000): Promise<ReceivedMessage> {
    return waitFor(() => this.messages.find((m) => m.topic === topic), timeoutMs, `no message on ${topic}`);
  }

  /** Wait for the server to end the connection; resolves with its DISCONNECT reason code if it sent one. */
  async waitForDisconnection(timeoutMs = 5000): Promise<number | undefined> {
    const event = await waitFor(() => this.disconnections[0], timeoutMs, "no disconnection");
    return event.disconnect?.reasonCode;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await shutdownMqttClient(this.client, 3000);
  }
}

/** Poll `probe` until it returns a value (never asserts on time, only bounds the wait). */
export async function waitFor<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Give in-flight deliveries a moment, for asserting that something did NOT arrive. */
export function settle(ms = 300): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The SDK's fleet-provisioning (identity) client over a connected client, as a Pi builds it. */
export function newIdentityClient(mqtt: SdkClient): iotidentity.IotIdentityClientv2 {
  return iotidentity.IotIdentityClientv2.newFromMqtt5(mqtt.client, {
    maxRequestResponseSubscriptions: 4,
    maxStreamingSubscriptions: 1,
    operationTimeoutInSeconds: 10,
  });
}

/** The `modeledError` of a refused identity call (AWS's `/rejected` payload), or the error itself. */
export async function rejection(call: Promise<unknown>): Promise<{ modeledError?: Record<string, unknown>; message: string }> {
  try {
    await call;
  } catch (err) {
    return err as { modeledError?: Record<string, unknown>; message: string };
  }
  throw new Error("the call was not refused");
}
