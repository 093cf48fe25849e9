/**
 * Request/answer over MQTT as AWS IoT's provisioning API speaks it: subscribe to `<topic>/accepted` and
 * `<topic>/rejected` first (AWS: answers published before the subscription are lost), publish the JSON
 * request at QoS 1, resolve with the first answer. AWS sends the answer on the requesting connection only.
 */
import { mqtt5 } from "aws-iot-device-sdk-v2";
import { publishJson } from "./mqtt";

export interface ExchangeAnswer {
  readonly accepted: boolean;
  readonly body: unknown;
}

/** What a `/rejected` answer says (`{statusCode, errorCode, errorMessage}`), with a message naming the operation. */
export interface Rejection {
  readonly message: string;
  readonly statusCode?: number;
  readonly errorCode?: string;
}

export function describeRejection(operation: string, body: unknown): Rejection {
  const e = (body ?? {}) as { statusCode?: number; errorCode?: string; errorMessage?: string };
  return { message: `${operation} rejected: ${e.statusCode} ${e.errorCode}: ${e.errorMessage}`, statusCode: e.statusCode, errorCode: e.errorCode };
}

export class MqttExchange {
  private readonly waiters = new Map<string, (payload: string) => void>();

  /** Give an incoming message to the request waiting for it; false when none is. */
  handle(topic: string, payload: string): boolean {
    const waiter = this.waiters.get(topic);
    if (!waiter) return false;
    waiter(payload);
    return true;
  }

  /** Rejects when the subscription or the publish is refused, or no answer came within `timeoutMs`. */
  async request(client: mqtt5.Mqtt5Client, topic: string, body: unknown, timeoutMs: number): Promise<ExchangeAnswer> {
    const answers = [`${topic}/accepted`, `${topic}/rejected`] as const;
    const suback = await client.subscribe({ subscriptions: answers.map((topicFilter) => ({ topicFilter, qos: mqtt5.QoS.AtLeastOnce })) });
    if (suback.reasonCodes.some((c) => c >= 0x80)) throw new Error(`subscription to ${topic} answers refused (reason codes ${suback.reasonCodes.join(",")})`);
    let cancel = (): void => undefined;
    const answer = new Promise<ExchangeAnswer>((resolve, reject) => {
      const timer = setTimeout(() => settle(() => reject(new Error(`no answer on ${topic}/accepted|rejected within ${timeoutMs} ms`))), timeoutMs);
      const settle = (finish: () => void): void => {
        clearTimeout(timer);
        for (const t of answers) this.waiters.delete(t);
        finish();
      };
      const on = (accepted: boolean) => (payload: string) =>
        settle(() => {
          try {
            resolve({ accepted, body: JSON.parse(payload) as unknown });
          } catch {
            reject(new Error(`unparsable answer on ${topic}`));
          }
        });
      this.waiters.set(answers[0], on(true));
      this.waiters.set(answers[1], on(false));
      cancel = () => settle(() => resolve({ accepted: false, body: {} }));
    });
    try {
      await publishJson(client, topic, body);
    } catch (err) {
      cancel();
      throw err;
    }
    return answer;
  }
}
