/**
 * The twin's rules engine: what the `iot` stack's topic rules do on AWS, done by an MQTT client with the
 * twin-service identity on the IoT front end.
 *
 * - `SELECT *, topic(2) AS thingName, timestamp() AS receivedAt FROM 'devices/+/errors'` -> the real
 *   `alert-handler` (async);
 * - `SELECT * FROM '$aws/events/presence/+/+'` -> the real `offline-detector` (async), with each event
 *   also published on its AWS topic ({@link LifecycleRule}).
 *
 * ```ts
 * const rules = await TwinRules.start({ iot, functions, counters, note });
 * rules.close();
 * ```
 */
import { mqtt5 } from "aws-iot-device-sdk-v2";
import { parseJsonObject } from "./broker";
import type { LocalFunctions } from "./functions";
import { TWIN_SERVICE_IDENTITY } from "./iot-core/stack-identities";
import { LifecycleRule, type LifecycleEvent } from "./lifecycle";
import type { TwinIotCore } from "./twin-iot";

/** Client id of the rules engine's connection (the service policy allows `local-twin-service*`). */
const RULES_CLIENT_ID = `${TWIN_SERVICE_IDENTITY}-rules`;

export interface TwinRulesOptions {
  readonly iot: TwinIotCore;
  readonly functions: LocalFunctions;
  readonly counters: { errorsRouted: number };
  readonly note: (tag: string, text: string) => void;
}

export class TwinRules {
  static async start(options: TwinRulesOptions): Promise<TwinRules> {
    // A persistent session: errors published while mosquitto restarts behind the front end still arrive.
    const client = await options.iot.connect(TWIN_SERVICE_IDENTITY, RULES_CLIENT_ID, 3600);
    const rules = new TwinRules(options, client);
    await client.subscribe(["devices/+/errors"]);
    return rules;
  }

  private readonly lifecycle: LifecycleRule;

  private constructor(
    private readonly options: TwinRulesOptions,
    client: Awaited<ReturnType<TwinIotCore["connect"]>>,
  ) {
    client.onMessage((topic, payload) => this.onErrorMessage(topic, payload));
    this.lifecycle = new LifecycleRule({
      source: (listener) => options.iot.onLifecycle(listener),
      isTwinClient: (clientId) => clientId.startsWith(TWIN_SERVICE_IDENTITY),
      deliver: (event) => this.onLifecycleEvent(event),
      publish: (topic, event) => client.publish(topic, event, mqtt5.QoS.AtMostOnce),
    });
  }

  /** Stop handling lifecycle events (the client itself closes with the IoT core). */
  close(): void {
    this.lifecycle.close();
  }

  private onLifecycleEvent(event: LifecycleEvent): void {
    const reason = event.eventType === "disconnected" ? ` (${event.disconnectReason})` : "";
    this.options.note("lifecycle", `${event.clientId} ${event.eventType}${reason} -> offline-detector`);
    this.options.functions.invokeAsync("offline-detector", event);
  }

  private onErrorMessage(topic: string, payload: Buffer): void {
    const m = /^devices\/([^/]+)\/errors$/.exec(topic);
    if (!m) return;
    const body = parseJsonObject(payload);
    if (!body) {
      this.options.note("rules", `${topic}: payload is not a JSON object; ignored`);
      return;
    }
    this.options.counters.errorsRouted++;
    this.options.note("rules", `${m[1]} error ${String(body.code)} -> alert-handler`);
    this.options.functions.invokeAsync("alert-handler", { ...body, thingName: m[1], receivedAt: Date.now() });
  }
}
