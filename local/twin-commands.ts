/**
 * The twin's controller: publishes commands to `devices/<thing>/commands` and matches the answers on
 * `devices/<thing>/responses|errors` by correlation id. It connects through the IoT front end with the
 * controller certificate, as the controller thing, so the synthesized controller policy decides what it
 * may do, as on AWS.
 *
 * ```ts
 * const controller = await CommandChannel.start({ client: await iot.connect(CONTROLLER_IDENTITY, names.controllerThing, 3600), counters });
 * const { accepted, answer } = controller.publishCommand("10000000c0de0001", "ping");
 * ```
 */
import { randomUUID } from "node:crypto";
import { mqtt5 } from "aws-iot-device-sdk-v2";
import { CommandOutcome } from "./api-server";
import { MqttTestClient, parseJsonObject } from "./broker";

/** A response or error that answered a command (matched by correlation id). */
export interface CommandAnswer {
  readonly id: string;
  readonly thingName: string;
  readonly topic: "responses" | "errors";
  readonly body: Record<string, unknown>;
  readonly receivedAt: number;
}

/** What the channel counts (fields of the twin's stats). */
export interface CommandCounters {
  commandsSent: number;
  commandsNotAccepted: number;
  /** Distinct correlation ids answered (responses or errors). */
  answered: number;
  /** Extra copies of answers already received (QoS 1 is at-least-once). */
  duplicateAnswers: number;
  /** Answers whose id this twin never sent. */
  unsolicitedAnswers: number;
}

export interface CommandChannelOptions {
  /** Connected with the controller identity, with a persistent session (nothing is missed across a broker restart). */
  readonly client: MqttTestClient;
  readonly counters: CommandCounters;
  /** A readable line per command and answer. @default none */
  readonly note?: (text: string) => void;
}

const COMMANDS_QOS = mqtt5.QoS.AtLeastOnce;

export class CommandChannel {
  static async start(options: CommandChannelOptions): Promise<CommandChannel> {
    const channel = new CommandChannel(options);
    await options.client.subscribe(["devices/+/responses", "devices/+/errors"]);
    return channel;
  }

  /** Every answer received, by correlation id (all copies). */
  readonly answers = new Map<string, CommandAnswer[]>();
  /** Ids of commands the broker accepted (PUBACK). */
  readonly sentIds = new Set<string>();
  private readonly issuedIds = new Set<string>();
  private readonly waiters = new Map<string, Array<(answer: CommandAnswer) => void>>();

  private constructor(private readonly options: CommandChannelOptions) {
    options.client.onMessage((topic, payload) => this.onMessage(topic, payload));
  }

  /**
   * Publish a command (QoS 1). `accepted` resolves when the broker acknowledged it (counted in
   * `commandsSent`), `answer` when a response or error with its id arrives.
   */
  publishCommand(
    thingName: string,
    command: string,
    params: Record<string, unknown> = {},
  ): { id: string; accepted: Promise<boolean>; answer: Promise<CommandAnswer> } {
    const id = randomUUID();
    this.issuedIds.add(id);
    const answer = new Promise<CommandAnswer>((resolve) => {
      const existing = this.answers.get(id);
      if (existing) return resolve(existing[0]!);
      this.waiters.set(id, [...(this.waiters.get(id) ?? []), resolve]);
    });
    const body = { id, command, params, issuedAt: new Date().toISOString() };
    const counters = this.options.counters;
    const accepted = this.options.client.publish(`devices/${thingName}/commands`, body, COMMANDS_QOS).then(
      () => {
        counters.commandsSent++;
        this.sentIds.add(id);
        return true;
      },
      () => {
        counters.commandsNotAccepted++;
        return false;
      },
    );
    return { id, accepted, answer };
  }

  /** The local API's command call: publish, then wait up to `waitMs` for the answer. */
  async send(thingName: string, command: string, params: Record<string, unknown>, waitMs: number): Promise<CommandOutcome> {
    const startedAt = Date.now();
    const { id, accepted, answer } = this.publishCommand(thingName, command, params);
    this.options.note?.(`-> ${thingName} ${command} (id ${id.slice(0, 8)})`);
    await accepted;
    const result = await withTimeout(answer, waitMs);
    if (!result) return { id, thingName, command, status: "pending" };
    const latencyMs = result.receivedAt - startedAt;
    this.options.note?.(`<- ${thingName} ${describeAnswer(result)} in ${latencyMs} ms`);
    return { id, thingName, command, status: "answered", topic: result.topic, answer: result.body, latencyMs };
  }

  private onMessage(topic: string, payload: Buffer): void {
    const m = /^devices\/([^/]+)\/(responses|errors)$/.exec(topic);
    if (!m) return;
    const body = parseJsonObject(payload);
    const id = typeof body?.id === "string" ? body.id : undefined;
    if (!body || !id) return;
    const answer: CommandAnswer = { id, thingName: m[1]!, topic: m[2] as "responses" | "errors", body, receivedAt: Date.now() };
    const counters = this.options.counters;
    const copies = this.answers.get(id);
    if (copies) {
      copies.push(answer);
      counters.duplicateAnswers++;
      return;
    }
    this.answers.set(id, [answer]);
    if (!this.issuedIds.has(id)) {
      counters.unsolicitedAnswers++;
      return;
    }
    counters.answered++;
    for (const resolve of this.waiters.get(id) ?? []) resolve(answer);
    this.waiters.delete(id);
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
