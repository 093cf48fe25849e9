/**
 * `npm run local -- --devices N --scenario chaos`: commands flow continuously while the broker (the
 * mosquitto behind the IoT front end) is stopped and started again `restarts` times; nothing may be lost.
 * The devices and the controller stay connected to the front end; its links to mosquitto reconnect,
 * resend what mosquitto had not acknowledged and re-subscribe.
 *
 * The Pis load the `work` handler (local/device-handlers/work.ts, through the device client's
 * `handlerModules`): each command takes a random 0-1.5 s, so some results are produced while the broker
 * is down. The twin's controller uses a persistent MQTT session
 * (session expiry 1 h, mosquitto persistence on), so answers published while it reconnects are queued
 * for it by the broker.
 *
 * Definitions (printed with the result):
 * - sent:       commands the broker accepted (PUBACK to the twin); each must yield exactly one answer
 * - received:   distinct correlation ids of sent commands answered on `responses` (or `errors`)
 * - duplicates: extra copies of answers already received (allowed: QoS 1 is at-least-once)
 * - lost:       sent - received
 * - notAccepted: publishes that failed (never acknowledged); not counted in sent, an answer is not required
 */
import type { LocalTwin } from "../twin";
import { bringUpFleet, pollUntil, serialFor, sleep } from "./common";

export interface ChaosCounts {
  sent: number;
  received: number;
  duplicates: number;
  lost: number;
  notAccepted: number;
  errors: number;
  /** Answers the Pis completed while the broker was down (held in the device outbox until acknowledged). */
  completedDuringOutage: number;
}

export interface ChaosResult {
  readonly ok: boolean;
  readonly counts: ChaosCounts;
  readonly restarts: number;
  readonly durationMs: number;
  readonly problems: string[];
}

export interface ChaosOptions {
  readonly devices: number;
  /** @default 3 */
  readonly restarts?: number;
  readonly concurrency?: number;
  /** Pause between two commands (all Pis in turn). @default 40 ms */
  readonly commandIntervalMs?: number;
  /** Broker up between restarts, random in [min, max] ms. @default [2000, 4000] */
  readonly upMs?: readonly [number, number];
  /** Broker down, random in [min, max] ms. @default [1000, 2500] */
  readonly downMs?: readonly [number, number];
  /** How long to wait for the last answers after sending stopped. @default 90000 */
  readonly drainTimeoutMs?: number;
}

const between = ([min, max]: readonly [number, number]): number => min + Math.floor(Math.random() * (max - min + 1));

export async function runChaos(twin: LocalTwin, options: ChaosOptions): Promise<ChaosResult> {
  const startedAt = Date.now();
  const restarts = options.restarts ?? 3;
  const problems: string[] = [];
  const serials = Array.from({ length: options.devices }, (_, i) => serialFor(i + 1));
  const work = twin.handlerModules.work;
  if (!work) throw new Error("the work handler module was not bundled");
  const fleet = await bringUpFleet(twin, serials, { concurrency: options.concurrency, handlerModules: [work] });
  for (const [serial, code] of fleet.failed) problems.push(`${serial}: provision exited ${code}`);
  if (fleet.running.length === 0) throw new Error("no Pi is running");

  // Send continuously, round-robin over the Pis, until the restarts are done.
  let sending = true;
  const inflight: Promise<boolean>[] = [];
  const sender = (async () => {
    for (let i = 0; sending; i++) {
      const pi = fleet.running[i % fleet.running.length]!;
      inflight.push(twin.publishCommand(pi.serialNumber, "work").accepted);
      await sleep(options.commandIntervalMs ?? 40);
    }
  })();

  const outages: Array<[number, number]> = [];
  for (let r = 1; r <= restarts; r++) {
    await sleep(between(options.upMs ?? [2000, 4000]));
    twin.note("chaos", `restart ${r}/${restarts}: stopping the broker (sent so far ${twin.stats.commandsSent}, answered ${twin.stats.answered})`);
    const downAt = Date.now();
    await twin.iot.backend.stop();
    await sleep(between(options.downMs ?? [1000, 2500]));
    await twin.iot.backend.start();
    outages.push([downAt, Date.now()]);
    twin.note("chaos", `restart ${r}/${restarts}: broker is back`);
  }
  await sleep(between(options.upMs ?? [2000, 4000]));
  sending = false;
  await sender;
  twin.note("chaos", `stopped sending; waiting for ${inflight.length} publishes to be acknowledged and answered`);
  await Promise.all(inflight);

  const sentIds = [...twin.sentIds];
  const answeredCount = (): number => sentIds.filter((id) => twin.answers.has(id)).length;
  await pollUntil(() => answeredCount() === sentIds.length, options.drainTimeoutMs ?? 90_000, 200);
  // Give late duplicates a moment to show up in the count (they are allowed, but reported).
  await sleep(500);

  const received = answeredCount();
  const errors = sentIds.filter((id) => twin.answers.get(id)?.[0]?.topic === "errors").length;
  const counts: ChaosCounts = {
    sent: sentIds.length,
    received,
    duplicates: sentIds.reduce((n, id) => n + Math.max(0, (twin.answers.get(id)?.length ?? 0) - 1), 0),
    lost: sentIds.length - received,
    notAccepted: twin.stats.commandsNotAccepted,
    errors,
    completedDuringOutage: sentIds.filter((id) => {
      const completedAt = Date.parse(String(twin.answers.get(id)?.[0]?.body.completedAt ?? ""));
      return outages.some(([from, to]) => completedAt >= from && completedAt <= to);
    }).length,
  };
  if (counts.lost > 0) {
    const missing = sentIds.filter((id) => !twin.answers.has(id)).slice(0, 10);
    problems.push(`${counts.lost} command(s) never answered, e.g. ${missing.join(", ")}`);
  }
  if (counts.sent === 0) problems.push("no command was accepted");
  return { ok: counts.lost === 0 && counts.sent > 0, counts, restarts, durationMs: Date.now() - startedAt, problems };
}

export function formatChaosSummary(result: ChaosResult): string[] {
  const c = result.counts;
  return [
    "",
    `Chaos scenario: ${result.restarts} broker restarts: ${result.ok ? "PASSED (nothing lost)" : "FAILED"} in ${(result.durationMs / 1000).toFixed(1)} s`,
    `  sent        ${c.sent}  commands the broker accepted (PUBACK); each must be answered`,
    `  received    ${c.received}  distinct correlation ids answered (${c.errors} of them on errors)`,
    `  duplicates  ${c.duplicates}  extra copies of answers (allowed: QoS 1 is at-least-once)`,
    `  lost        ${c.lost}  sent - received`,
    `  (${c.completedDuringOutage} answers were completed by a Pi while the broker was down and held in its outbox until acknowledged)`,
    `  notAccepted ${c.notAccepted}  publishes never acknowledged by the broker (not in sent)`,
    ...result.problems.map((p) => `  problem: ${p}`),
  ];
}
