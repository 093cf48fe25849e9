/**
 * The aws-iot-device-sdk-v2 MQTT 5 client, configured for a Pi on flaky Wi-Fi.
 *
 * Behaviour of the SDK that this relies on (aws-crt 1.x MQTT5 client):
 * - After `start()` the client keeps trying to connect until `stop()`, including when the very first
 *   attempt fails (unlike the MQTT 3.1.1 client, which gives up if the first connect fails). Each failed
 *   attempt emits `connectionFailure`; callers that need "connected or give up" (provisioning) must add
 *   their own deadline and call `stop()`.
 * - The delay between attempts grows from `minReconnectDelayMs` to `maxReconnectDelayMs`; with
 *   `RetryJitterType.Decorrelated` each delay is random in [min, 3 x previous], capped at max, so a fleet
 *   that lost its broker does not reconnect in lock-step and never retries faster than `min`. The delay is
 *   reset to `min` only after a connection has stayed up for `minConnectedTimeToResetReconnectDelayMs`.
 * - `ClientSessionBehavior.RejoinPostSuccess` (the usual choice) asks for a clean session on the first
 *   connect after `start()`, so a process restart would throw away the broker-side session and the
 *   commands queued in it. We use `RejoinAlways` with a session expiry: the SDK's own unacknowledged
 *   publishes are not persisted across restarts, but ours are (the outbox journal), so rejoining is safe.
 * - With the default offline queue behaviour QoS 1 publishes wait in memory while disconnected and are
 *   (re)sent on reconnect; the outbox still limits what it hands to the SDK at a time.
 */
import * as fs from "node:fs";
import { iot, mqtt5 } from "aws-iot-device-sdk-v2";

export interface DeviceMqttOptions {
  readonly host: string;
  readonly port: number;
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly clientId: string;
  readonly keepAliveSeconds?: number;
  /** 0 = clean session each time. */
  readonly sessionExpirySeconds?: number;
  readonly minReconnectDelayMs?: number;
  readonly maxReconnectDelayMs?: number;
  readonly resetReconnectDelayAfterMs?: number;
}

export function createMqttClient(options: DeviceMqttOptions): mqtt5.Mqtt5Client {
  const builder = iot.AwsIotMqtt5ClientConfigBuilder.newDirectMqttBuilderWithMtlsFromMemory(
    options.host,
    fs.readFileSync(options.certFile, "utf8"),
    fs.readFileSync(options.keyFile, "utf8"),
  );
  const persistent = (options.sessionExpirySeconds ?? 0) > 0;
  builder
    .withPort(options.port)
    .withCertificateAuthority(fs.readFileSync(options.caFile, "utf8"))
    .withConnectProperties({
      clientId: options.clientId,
      keepAliveIntervalSeconds: options.keepAliveSeconds ?? 60,
      ...(persistent ? { sessionExpiryIntervalSeconds: options.sessionExpirySeconds } : {}),
    })
    .withSessionBehavior(persistent ? mqtt5.ClientSessionBehavior.RejoinAlways : mqtt5.ClientSessionBehavior.Clean)
    .withRetryJitterMode(mqtt5.RetryJitterType.Decorrelated)
    .withMinReconnectDelayMs(options.minReconnectDelayMs ?? 1000)
    .withMaxReconnectDelayMs(options.maxReconnectDelayMs ?? 60_000)
    .withMinConnectedTimeToResetReconnectDelayMs(options.resetReconnectDelayAfterMs ?? 30_000)
    .withConnackTimeoutMs(10_000)
    .withPingTimeoutMs(10_000)
    .withAckTimeoutSeconds(60)
    .withOfflineQueueBehavior(mqtt5.ClientOperationQueueBehavior.FailQos0PublishOnDisconnect);
  const config = builder.build();
  return new mqtt5.Mqtt5Client(config);
}

/** Stop the client, wait for `stopped` (bounded), release native resources. */
export async function shutdownMqttClient(client: mqtt5.Mqtt5Client, timeoutMs = 5000): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    client.once("stopped", () => {
      clearTimeout(timer);
      resolve();
    });
    try {
      // With a DISCONNECT packet: without one the socket just closes, which AWS IoT reports as
      // CONNECTION_LOST (and publishes the will) instead of CLIENT_INITIATED_DISCONNECT.
      client.stop({ reasonCode: mqtt5.DisconnectReasonCode.NormalDisconnection });
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
  client.close();
}

/** An MQTT payload as a UTF-8 string. */
export function payloadText(payload: unknown): string {
  if (payload === undefined || payload === null) return "";
  if (typeof payload === "string") return payload;
  if (payload instanceof ArrayBuffer) return Buffer.from(payload).toString("utf8");
  if (ArrayBuffer.isView(payload)) return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString("utf8");
  return JSON.stringify(payload);
}

/** PUBACK reason codes >= 0x80 are failures (e.g. 0x87 not authorized); 0x10 "no matching subscribers" is success. */
export function isPubackFailure(result: mqtt5.PublishCompletionResult): boolean {
  return result !== undefined && result.reasonCode >= 0x80;
}

/** Publish `body` as JSON at QoS 1 now (not journaled); rejects when the broker refuses it in the PUBACK. */
export async function publishJson(client: mqtt5.Mqtt5Client, topic: string, body: unknown): Promise<void> {
  const res = await client.publish({ topicName: topic, payload: JSON.stringify(body), qos: mqtt5.QoS.AtLeastOnce });
  if (isPubackFailure(res)) throw new Error(`publish to ${topic} refused (reason code ${res!.reasonCode})`);
}
