/**
 * `npm run local -- --scenario lifecycle`: day-2 device lifecycle end to end, driven through the real
 * operator CLI (`scripts/fleet.ts`, against the local API and the IoT control-plane stand-in) with Pi
 * processes running the real device client.
 *
 * 1. Three Pis are registered (one with a building), provisioned and started.
 * 2. `fleet revoke` the first: the registry stream drives the real revoker, the certificate is REVOKED and
 *    the Pi's connection closes; it cannot reconnect (revokedCutOff).
 * 3. `fleet reprovision` it: same Pi, new SD card (its data wiped); it provisions with the claim and is
 *    online again with a NEW certificate (reprovisioned).
 * 4. `fleet replace` the second with a new serial: the new Pi inherits type and metadata (building), the old
 *    row is REVOKED (replaced).
 * 5. `fleet rotate` the third: an IoT job; the Pi rotates over its own connection and reconnects with the
 *    new certificate (rotated); the lifecycle event makes the cloud revoke the old one, and a connection
 *    with the old certificate and key is refused (oldCertificateRefused).
 * 6. A command to each online Pi is answered (lost = commands without an answer).
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { IoTClient } from "@aws-sdk/client-iot";
import { runFleetCli } from "../../scripts/fleet";
import { FleetApi } from "../../scripts/fleet/api-client";
import { MqttTestClient } from "../broker";
import { FAKE_AWS_ENV } from "../dynamo";
import type { SimulatedPi } from "../fleet";
import { type LocalTwin } from "../twin";
import { pollUntil, serialFor, sleep } from "./common";

export interface LifecycleCounts {
  revokedCutOff: boolean;
  reprovisioned: boolean;
  replaced: boolean;
  rotated: boolean;
  oldCertificateRefused: boolean;
  lost: number;
  commandsSent: number;
}

export interface LifecycleResult {
  readonly ok: boolean;
  readonly counts: LifecycleCounts;
  readonly problems: string[];
  readonly durationMs: number;
  /** Seconds from each operation to its effect in the twin. */
  readonly takesEffectSeconds: Record<string, number>;
}

const BUILDING = "bldg-lifecycle-1";
const WAIT_MS = 60_000;

export async function runLifecycle(twin: LocalTwin): Promise<LifecycleResult> {
  const startedAt = Date.now();
  const deviceType = twin.config.deviceTypes[0]!;
  const [revokedSerial, replacedSerial, rotatedSerial] = [0, 1, 2].map((i) => serialFor(i, "11fe"));
  const newSerial = serialFor(3, "11fe");
  const problems: string[] = [];
  const took: Record<string, number> = {};
  const counts: LifecycleCounts = {
    revokedCutOff: false,
    reprovisioned: false,
    replaced: false,
    rotated: false,
    oldCertificateRefused: false,
    lost: 0,
    commandsSent: 0,
  };

  const iot = new IoTClient({
    endpoint: twin.iot.controlPlaneUrl,
    region: twin.config.region,
    credentials: { accessKeyId: FAKE_AWS_ENV.AWS_ACCESS_KEY_ID!, secretAccessKey: FAKE_AWS_ENV.AWS_SECRET_ACCESS_KEY! },
    maxAttempts: 2,
  });
  const fleet = async (...argv: string[]): Promise<Record<string, unknown>> => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runFleetCli(["--api-url", twin.apiUrl, "--api-key", twin.apiKey, ...argv, "--json"], {
      api: (o) => new FleetApi({ baseUrl: o.apiUrl ?? "", apiKey: o.apiKey ?? "" }),
      iot: () => iot,
      out: (t) => out.push(t),
      err: (t) => err.push(t),
    });
    twin.note("fleet", `npm run fleet -- ${argv.join(" ")} -> exit ${code}${err.length ? `: ${err.join(" ")}` : ""}`);
    if (code !== 0) throw new Error(`fleet ${argv.join(" ")} failed: ${err.join(" ")}`);
    return out.length ? (JSON.parse(out.join("\n")) as Record<string, unknown>) : {};
  };
  const registry = twin.iot.plane.registry;
  const connectionOf = (clientId: string) => twin.iot.frontend.connections().find((c) => c.clientId === clientId);
  const row = async (serial: string) => (await twin.getDevice(serial)).body;
  const bringUp = async (serial: string, metadata?: Record<string, string>): Promise<SimulatedPi> => {
    if (metadata) {
      const res = await fetch(`${twin.apiUrl}/devices`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": twin.apiKey },
        body: JSON.stringify({ serialNumber: serial, deviceType, metadata }),
      });
      if (res.status !== 201) throw new Error(`registering ${serial} failed: ${res.status}`);
    } else if ((await twin.registerDevice(serial, deviceType)).status !== 201) throw new Error(`registering ${serial} failed`);
    const pi = await twin.createPi(serial, deviceType);
    return startProvisioned(twin, pi);
  };

  try {
    // 1. Three Pis online.
    const pis = [await bringUp(revokedSerial), await bringUp(replacedSerial, { buildingId: BUILDING, room: "boiler" }), await bringUp(rotatedSerial)];
    const firstCertificate = connectionOf(revokedSerial)?.certificateId;

    // 2. Revoke: the connection closes and stays closed.
    let t = Date.now();
    await fleet("revoke", revokedSerial);
    const cut = await pollUntil(() => !connectionOf(revokedSerial) && registry.getCertificate(firstCertificate ?? "")?.status === "REVOKED", WAIT_MS);
    took.revoke = seconds(t);
    await sleep(3000); // the Pi keeps retrying with its revoked certificate meanwhile
    counts.revokedCutOff = cut && !connectionOf(revokedSerial);

    // 3. Re-provision: same Pi, new SD card.
    t = Date.now();
    await fleet("reprovision", revokedSerial);
    await twin.stopPi(pis[0]!);
    await fs.rm(pis[0]!.dataDir, { recursive: true, force: true });
    await fs.mkdir(pis[0]!.dataDir, { recursive: true, mode: 0o700 });
    await startProvisioned(twin, pis[0]!);
    const reprovisionedCertificate = connectionOf(revokedSerial)?.certificateId;
    const reprovisionedRow = await pollUntil(async () => ((await row(revokedSerial)).status === "PROVISIONED" ? true : false), WAIT_MS);
    took.reprovision = seconds(t);
    counts.reprovisioned = reprovisionedRow && reprovisionedCertificate !== undefined && reprovisionedCertificate !== firstCertificate;

    // 4. Replace: new hardware, new serial, same building.
    t = Date.now();
    await fleet("replace", replacedSerial, newSerial);
    await twin.stopPi(pis[1]!);
    const successor = await startProvisioned(twin, await twin.createPi(newSerial, deviceType));
    const [oldRow, newRow] = [await row(replacedSerial), await row(newSerial)];
    took.replace = seconds(t);
    counts.replaced =
      oldRow.status === "REVOKED" &&
      oldRow.replacedBy === newSerial &&
      newRow.replaces === replacedSerial &&
      newRow.deviceType === deviceType &&
      (newRow.metadata as Record<string, string> | undefined)?.buildingId === BUILDING &&
      connectionOf(successor.serialNumber) !== undefined;

    // 5. Rotate through a job.
    const rotatedPi = pis[2]!;
    const before = connectionOf(rotatedSerial)?.certificateId;
    const oldPair = {
      certPem: await fs.readFile(path.join(rotatedPi.dataDir, "device.cert.pem"), "utf8"),
      keyPem: await fs.readFile(path.join(rotatedPi.dataDir, "device.key.pem"), "utf8"),
      certificateId: before ?? "",
    };
    t = Date.now();
    await fleet("rotate", rotatedSerial);
    const after = await pollUntil(() => {
      const now = connectionOf(rotatedSerial)?.certificateId;
      return now && now !== before ? now : undefined;
    }, WAIT_MS);
    const rotatedRow = await pollUntil(async () => ((await row(rotatedSerial)).status === "PROVISIONED" && after !== undefined ? true : false), WAIT_MS);
    took.rotate = seconds(t);
    counts.rotated = after !== undefined && rotatedRow && registry.getCertificate(after)?.status === "ACTIVE";
    const oldRevoked = await pollUntil(() => registry.getCertificate(before ?? "")?.status === "REVOKED", WAIT_MS);
    took.rotateOldRevoked = seconds(t);
    counts.oldCertificateRefused = oldRevoked && (await refused(twin, oldPair, rotatedSerial));

    // 6. Every online Pi still answers commands.
    for (const serial of [revokedSerial, newSerial, rotatedSerial]) {
      counts.commandsSent++;
      const outcome = await twin.send(serial, "ping", {}, 15_000);
      if (outcome.status !== "answered") counts.lost++;
    }
  } catch (err) {
    problems.push((err as Error).message);
  } finally {
    iot.destroy();
  }
  const expect = (what: string, ok: boolean) => ok || problems.push(what);
  expect("the revoked Pi was not cut off (or reconnected)", counts.revokedCutOff);
  expect("the re-provisioned Pi is not online with a new certificate", counts.reprovisioned);
  expect("the replacement did not inherit type, metadata and building, or is not online", counts.replaced);
  expect("the rotated Pi is not online with a new certificate", counts.rotated);
  expect("the old certificate of the rotated Pi was not refused", counts.oldCertificateRefused);
  expect(`lost ${counts.lost} of ${counts.commandsSent} commands`, counts.lost === 0 && counts.commandsSent === 3);
  return { ok: problems.length === 0, counts, problems, durationMs: Date.now() - startedAt, takesEffectSeconds: took };
}

async function startProvisioned(twin: LocalTwin, pi: SimulatedPi): Promise<SimulatedPi> {
  const code = await twin.provisionPi(pi);
  if (code !== 0) throw new Error(`provisioning ${pi.serialNumber} failed (exit ${code})`);
  await twin.startPi(pi);
  return pi;
}

/** Does the endpoint refuse a connection with this certificate and key (as the thing)? */
async function refused(twin: LocalTwin, credentials: { certPem: string; keyPem: string; certificateId: string }, clientId: string): Promise<boolean> {
  const caPem = await fs.readFile(twin.endpoint.caFile, "utf8");
  let client: MqttTestClient | undefined;
  try {
    client = await Promise.race([
      MqttTestClient.connect({ host: twin.endpoint.host, port: twin.endpoint.port, caPem, credentials, clientId: `${clientId}` }),
      sleep(15_000).then(() => undefined),
    ]);
    return false;
  } catch {
    return true;
  } finally {
    await client?.close().catch(() => undefined);
  }
}

const seconds = (since: number): number => Math.round((Date.now() - since) / 100) / 10;

export function formatLifecycleSummary(result: LifecycleResult): string[] {
  const effects = Object.entries(result.takesEffectSeconds)
    .map(([k, v]) => `${k} ${v} s`)
    .join(", ");
  return [
    `lifecycle: ${result.ok ? "OK" : "FAILED"} in ${Math.round(result.durationMs / 100) / 10} s (took effect: ${effects})`,
    ...result.problems.map((p) => `  - ${p}`),
  ];
}
