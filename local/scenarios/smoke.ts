/**
 * `npm run local -- --devices N --scenario smoke`: the whole device lifecycle once, counted.
 *
 * 1. register N serials through the local registration API (real handler, API key);
 * 2. provision the N Pis (each a separate process, on the shared IoT endpoint) plus ONE unregistered serial,
 *    which the real pre-provisioning hook denies (the device exits 77);
 * 3. start the N Pis; their first connection moves each registry row to PROVISIONED (lifecycle event ->
 *    real offline detector);
 * 4. send `ping` to every Pi and match each response by correlation id;
 * 4b. every Pi sends telemetry (its own metrics and its room's sensors) every second; the synthesized
 *    store rule writes each reading to the hot table (dynalite) and the warm store (s3rver); the first
 *    Pi's room is stuffy (CO2 around 1800 ppm), so the synthesized co2 threshold rule fires and the real
 *    alert handler sends one alert (later breaches fall within its cooldown);
 * 5. one Pi gets an unknown command -> UNKNOWN_COMMAND on `devices/<thing>/errors` -> real alert
 *    handler -> exactly one SNS alert; the same error again within the cooldown -> no new alert;
 * 6. one Pi is stopped; after OFFLINE_GRACE_SECONDS the sweep (real offline detector) alerts it offline.
 */
import { DynamoDBClient, paginateScan } from "@aws-sdk/client-dynamodb";
import { FAKE_AWS_ENV } from "../dynamo";
import { type LocalTwin, withTimeout } from "../twin";
import { averageRssMiB, bringUpFleet, mapLimit, pollUntil, serialFor, sleep } from "./common";

export interface SmokeCounts {
  registered: number;
  provisioned: number;
  denied: number;
  commands: number;
  responses: number;
  alerts: number;
  offline: number;
  /** Rows the synthesized telemetry rule wrote to the hot store (at least one per Pi). */
  telemetryStored: number;
  /** Alerts the alert handler sent because a threshold rule fired (at least one). */
  thresholdAlerts: number;
}

/** Counts that must reach their expected value rather than equal it. */
const AT_LEAST: ReadonlySet<keyof SmokeCounts> = new Set(["telemetryStored", "thresholdAlerts"]);
/** The stuffy room of the first Pi: every reading is past the dev/prod co2 threshold (1500 ppm). */
const STUFFY_ROOM = { co2Ppm: 1800 } as const;

export interface SmokeResult {
  readonly ok: boolean;
  readonly counts: SmokeCounts;
  readonly expected: SmokeCounts;
  /** What did not go as expected, readable. */
  readonly problems: string[];
  readonly durationMs: number;
  readonly provisionMs: number;
  readonly deviceRssMiB?: number;
}

export interface SmokeOptions {
  readonly devices: number;
  /** Pis provisioning / starting at once. @default 8 */
  readonly concurrency?: number;
}

const UNREGISTERED_SERIAL = "10000000dead0001";

export async function runSmoke(twin: LocalTwin, options: SmokeOptions): Promise<SmokeResult> {
  const startedAt = Date.now();
  const n = options.devices;
  const problems: string[] = [];
  const expected: SmokeCounts = {
    registered: n,
    provisioned: n,
    denied: 1,
    commands: n,
    responses: n,
    alerts: 1,
    offline: 1,
    telemetryStored: n,
    thresholdAlerts: 1,
  };
  const counts: SmokeCounts = {
    registered: 0,
    provisioned: 0,
    denied: 0,
    commands: 0,
    responses: 0,
    alerts: 0,
    offline: 0,
    telemetryStored: 0,
    thresholdAlerts: 0,
  };
  const serials = Array.from({ length: n }, (_, i) => serialFor(i + 1));

  // 1-3: register, provision (plus the unregistered one), start.
  const fleet = await bringUpFleet(twin, serials, {
    concurrency: options.concurrency,
    piOptions: (_serial, i) => ({ telemetryIntervalSeconds: 1, room: i === 0 ? STUFFY_ROOM : undefined }),
  });
  counts.registered = fleet.registered.length;
  for (const [serial, code] of fleet.failed) problems.push(`${serial}: provision exited ${code}`);
  const intruder = await twin.createPi(UNREGISTERED_SERIAL, twin.config.deviceTypes[0]!);
  const intruderCode = await twin.provisionPi(intruder);
  if (intruderCode === 77) counts.denied = 1;
  else problems.push(`unregistered ${UNREGISTERED_SERIAL}: provision exited ${intruderCode}, expected 77 (denied)`);

  // The first connection of each Pi reaches the offline detector asynchronously.
  await twin.idle();
  const statuses = await pollUntil(
    async () => {
      const rows = await mapLimit(fleet.running, 10, (pi) => twin.getDevice(pi.serialNumber));
      const provisioned = rows.filter((r) => r.status === 200 && r.body.status === "PROVISIONED" && r.body.connected === true).length;
      return provisioned === fleet.running.length ? rows : undefined;
    },
    30_000,
    250,
  );
  const rows = statuses ?? (await mapLimit(fleet.running, 10, (pi) => twin.getDevice(pi.serialNumber)));
  counts.provisioned = rows.filter((r) => r.status === 200 && r.body.status === "PROVISIONED").length;
  rows.forEach((r, i) => {
    if (r.body.status !== "PROVISIONED") problems.push(`${fleet.running[i]!.serialNumber}: registry status ${String(r.body.status)}, expected PROVISIONED`);
  });

  // 4: a command to every Pi; each response matched by its correlation id.
  const commands = fleet.running.map((pi) => ({ pi, ...twin.publishCommand(pi.serialNumber, "ping") }));
  const accepted = await Promise.all(commands.map((c) => c.accepted));
  counts.commands = accepted.filter(Boolean).length;
  const answers = await Promise.all(commands.map((c) => withTimeout(c.answer, 30_000)));
  answers.forEach((a, i) => {
    const c = commands[i]!;
    if (a && a.topic === "responses" && a.body.id === c.id && a.body.status === "ok" && a.thingName === c.pi.serialNumber) counts.responses++;
    else problems.push(`${c.pi.serialNumber}: no ok response to ping ${c.id} (${a ? JSON.stringify(a.body) : "none within 30 s"})`);
  });
  twin.note("smoke", `commands: ${counts.responses}/${counts.commands} answered`);
  const deviceRssMiB = averageRssMiB(fleet.running);

  // 4b: telemetry through the synthesized rules: every Pi in the hot store, the stuffy room alerted.
  const stored = await pollUntil(
    async () => {
      const things = await storedThings(twin);
      return twin.stats.thresholdAlerts >= 1 && fleet.running.every((pi) => things.has(pi.serialNumber)) ? things : undefined;
    },
    30_000,
    250,
  );
  counts.telemetryStored = twin.stats.telemetryStored;
  counts.thresholdAlerts = twin.stats.thresholdAlerts;
  if (!stored)
    problems.push(
      `telemetry: not every Pi reached the hot store with a threshold alert within 30 s (rows ${counts.telemetryStored}, threshold alerts ${counts.thresholdAlerts})`,
    );
  twin.note("smoke", `telemetry: ${counts.telemetryStored} rows in the hot store, ${counts.thresholdAlerts} threshold alert(s)`);

  // 5: one error -> one alert; the same error again within the cooldown -> suppressed. Threshold
  // alerts of the stuffy room keep coming meanwhile (suppressed by the cooldown) and are not counted here.
  const before = { ...twin.stats };
  const faulty = fleet.running[0];
  if (faulty) {
    for (const attempt of [1, 2]) {
      const c = twin.publishCommand(faulty.serialNumber, "self-destruct", { attempt });
      await c.accepted;
      const a = await withTimeout(c.answer, 30_000);
      if (!a || a.topic !== "errors" || a.body.code !== "UNKNOWN_COMMAND")
        problems.push(`${faulty.serialNumber}: expected UNKNOWN_COMMAND, got ${a ? JSON.stringify(a.body) : "nothing"}`);
      await twin.idle();
    }
  }
  const since = (key: keyof typeof before): number => twin.stats[key] - before[key];
  counts.alerts = since("alertsSent") - since("thresholdAlerts");
  const suppressed = since("alertsSuppressed") - since("thresholdSuppressed");
  if (suppressed !== 1) problems.push(`the repeated error was not suppressed exactly once (${suppressed})`);

  // 6: one Pi goes away; after the grace period the sweep alerts it once.
  const victim = fleet.running[fleet.running.length - 1];
  if (victim) {
    await twin.stopPi(victim);
    await twin.idle();
    const row = await pollUntil(async () => {
      const r = await twin.getDevice(victim.serialNumber);
      return r.body.connected === false ? r.body : undefined;
    }, 15_000);
    if (!row) problems.push(`${victim.serialNumber}: registry never showed connected=false`);
    const graceMs = (twin.options.offlineGraceSeconds ?? 60) * 1000;
    const lastSeen = typeof row?.lastSeen === "number" ? row.lastSeen : Date.now();
    const wait = lastSeen + graceMs + 100 - Date.now();
    if (wait > 0) await sleep(wait);
    const sweep = await twin.sweep();
    counts.offline = twin.stats.offlineAlerted;
    if (!sweep.alerted?.includes(victim.serialNumber)) problems.push(`sweep did not alert ${victim.serialNumber}: ${JSON.stringify(sweep)}`);
  }

  for (const key of Object.keys(expected) as (keyof SmokeCounts)[]) {
    if (AT_LEAST.has(key) ? counts[key] < expected[key] : counts[key] !== expected[key]) {
      problems.push(`${key}: ${counts[key]}, expected ${AT_LEAST.has(key) ? "at least " : ""}${expected[key]}`);
    }
  }
  return {
    ok: problems.length === 0,
    counts,
    expected,
    problems,
    durationMs: Date.now() - startedAt,
    provisionMs: fleet.provisionMs,
    deviceRssMiB,
  };
}

/** The things with at least one row in the twin's hot store (a scan of dynalite, as a dashboard query would see). */
async function storedThings(twin: LocalTwin): Promise<Set<string>> {
  const client = new DynamoDBClient({
    endpoint: twin.dynamoEndpoint,
    region: twin.config.region,
    credentials: { accessKeyId: FAKE_AWS_ENV.AWS_ACCESS_KEY_ID!, secretAccessKey: FAKE_AWS_ENV.AWS_SECRET_ACCESS_KEY! },
  });
  try {
    const things = new Set<string>();
    for await (const page of paginateScan({ client }, { TableName: twin.names.telemetryTable, ProjectionExpression: "thingName" })) {
      for (const item of page.Items ?? []) if (item.thingName?.S) things.add(item.thingName.S);
    }
    return things;
  } finally {
    client.destroy();
  }
}

/** Readable summary lines (the caller prints the JSON line last). */
export function formatSmokeSummary(result: SmokeResult, devices: number): string[] {
  const c = result.counts;
  const e = result.expected;
  const mark = (k: keyof SmokeCounts): string => ((AT_LEAST.has(k) ? c[k] >= e[k] : c[k] === e[k]) ? "ok  " : "FAIL");
  return [
    "",
    `Smoke scenario with ${devices} simulated Pi(s): ${result.ok ? "PASSED" : "FAILED"} in ${(result.durationMs / 1000).toFixed(1)} s`,
    `  ${mark("registered")} registered  ${c.registered}/${e.registered} serials through the local API (real register-device handler)`,
    `  ${mark("provisioned")} provisioned ${c.provisioned}/${e.provisioned} (claim -> certificate -> RegisterThing -> first connection = PROVISIONED) in ${(result.provisionMs / 1000).toFixed(1)} s`,
    `  ${mark("denied")} denied      ${c.denied}/${e.denied} unregistered serial refused by the real pre-provisioning hook (device exit 77)`,
    `  ${mark("commands")} commands    ${c.commands}/${e.commands} accepted by the broker`,
    `  ${mark("responses")} responses   ${c.responses}/${e.responses} matched by correlation id`,
    `  ${mark("alerts")} alerts      ${c.alerts}/${e.alerts} (UNKNOWN_COMMAND twice within the cooldown -> one alert)`,
    `  ${mark("offline")} offline     ${c.offline}/${e.offline} (stopped Pi alerted by the sweep after OFFLINE_GRACE_SECONDS)`,
    `  ${mark("telemetryStored")} telemetry   ${c.telemetryStored} rows (at least ${e.telemetryStored}) in the hot store through the synthesized store rule`,
    `  ${mark("thresholdAlerts")} thresholds  ${c.thresholdAlerts} alert(s) (at least ${e.thresholdAlerts}) from the synthesized co2 threshold rule via the real alert handler`,
    ...(result.deviceRssMiB !== undefined ? [`  device client memory: ${result.deviceRssMiB} MiB RSS per process (average, steady)`] : []),
    ...result.problems.map((p) => `  problem: ${p}`),
  ];
}
