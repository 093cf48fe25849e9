/**
 * `npm run local -- --devices N --scenario ota` (N >= 3): a firmware rollout end to end, driven through the
 * real operator CLI (`scripts/ota.ts`, against the control-plane stand-in and s3rver) with N Pi processes
 * running the real device client.
 *
 * 1. N Pis of one device type are registered, provisioned and started; all are in the device type's thing
 *    group (the fleet), the first two also in the canary group. Each Pi's installer copies the image into
 *    its simulated firmware slot; its health check fails when the slot holds a broken build.
 * 2. `upload` 1.1.0, `deploy --canary <canary> --target <fleet>`: both canary Pis update and SUCCEED, the
 *    CLI promotes to the fleet, every Pi SUCCEEDS (the canary Pis without reinstalling).
 * 3. 1.2.0 is uploaded and then corrupted in the bucket: the Pi it is deployed to FAILS it with a checksum
 *    mismatch and installs nothing.
 * 4. 1.3.0-broken installs but never passes the health check: the Pi restores 1.1.0 and FAILS with the reason.
 * 5. `status` reports the fleet's firmware versions from the shadows (all 1.1.0).
 *
 * Single-Pi groups for steps 3 and 4 are created ad hoc, as an operator would with `aws iot create-thing-group`.
 */
import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { IoTClient } from "@aws-sdk/client-iot";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { otaCli } from "../../scripts/ota";
import { FAKE_AWS_ENV } from "../dynamo";
import type { SimulatedPi } from "../fleet";
import { type LocalTwin } from "../twin";
import { mapLimit, serialFor } from "./common";

export interface OtaCounts {
  canarySucceeded: number;
  promoted: boolean;
  fleetSucceeded: number;
  corruptFailed: number;
  rolledBack: number;
  versions: Record<string, number>;
}

export interface OtaResult {
  readonly ok: boolean;
  readonly counts: OtaCounts;
  readonly problems: string[];
  readonly durationMs: number;
}

const PROBE_CORRUPT_GROUP = "ota-probe-corrupt";
const PROBE_BROKEN_GROUP = "ota-probe-broken";

export async function runOta(twin: LocalTwin, options: { devices: number; concurrency?: number; workDir: string }): Promise<OtaResult> {
  const startedAt = Date.now();
  if (options.devices < 3) throw new Error("--scenario ota needs --devices 3 or more (2 canary Pis and the rest of the fleet)");
  const workDir = path.join(options.workDir, "rollout");
  await fs.mkdir(workDir, { recursive: true });
  const tools = await writeDeviceTools(workDir);
  const deviceType = twin.config.deviceTypes[0]!;
  const fleetGroup = twin.names.deviceTypeThing(deviceType);
  const canaryGroup = twin.names.otaCanaryGroup;

  // 1. The fleet.
  const serials = Array.from({ length: options.devices }, (_v, i) => serialFor(i, "0da0"));
  const pis: SimulatedPi[] = [];
  await mapLimit(serials, options.concurrency ?? 8, async (serial) => {
    const res = await twin.registerDevice(serial, deviceType);
    if (res.status !== 201) throw new Error(`registering ${serial} failed: ${res.status}`);
    const slot = path.join(workDir, "slots", serial);
    await fs.mkdir(slot, { recursive: true });
    const pi = await twin.createPi(serial, deviceType, {
      deviceConfig: {
        installCommand: [tools.install, slot],
        healthCheckCommand: [tools.health, slot],
        healthCheckTimeoutSeconds: 3,
        healthCheckIntervalSeconds: 0.5,
        firmwareVersion: "1.0.0",
      },
    });
    const code = await twin.provisionPi(pi);
    if (code !== 0) throw new Error(`provisioning ${serial} failed (exit ${code})`);
    await twin.startPi(pi);
    pis.push(pi);
  });
  pis.sort((a, b) => a.serialNumber.localeCompare(b.serialNumber));
  const registry = twin.iot.plane.registry;
  for (const group of [PROBE_CORRUPT_GROUP, PROBE_BROKEN_GROUP]) registry.defineThingGroup(group);
  const thing = (i: number) => pis[i]!.serialNumber;
  const member = (i: number, extra: string[]) =>
    registry.putThing({ thingName: thing(i), thingGroups: [...new Set([...registry.requireThing(thing(i)).thingGroups, ...extra])] });
  member(0, [canaryGroup]);
  member(1, [canaryGroup]);
  member(2, [PROBE_CORRUPT_GROUP]);
  member(pis.length - 1, [PROBE_BROKEN_GROUP]);

  const iot = new IoTClient({
    endpoint: twin.iot.controlPlaneUrl,
    region: twin.config.region,
    credentials: { accessKeyId: FAKE_AWS_ENV.AWS_ACCESS_KEY_ID!, secretAccessKey: FAKE_AWS_ENV.AWS_SECRET_ACCESS_KEY! },
  });
  const s3 = twin.topicRules.s3.client;
  const ota = async (...argv: string[]): Promise<Record<string, unknown>> => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await otaCli({ config: twin.config, iot, s3, out: (l) => out.push(l), err: (l) => err.push(l) }).run([...argv, "--json"]);
    twin.note("ota", `npm run ota -- ${argv.join(" ")} -> exit ${code}${err.length ? `: ${err.join(" ")}` : ""}`);
    return out.length ? (JSON.parse(out[out.length - 1]!) as Record<string, unknown>) : {};
  };
  const terminal = (jobId: string) => Promise.all(twin.jobs.executionsOf(jobId).map((e) => twin.jobs.waitForTerminal(e.thingName, jobId, 120_000)));
  const problems: string[] = [];
  const counts: OtaCounts = { canarySucceeded: 0, promoted: false, fleetSucceeded: 0, corruptFailed: 0, rolledBack: 0, versions: {} };
  try {
    // 2. Canary, then the fleet.
    await ota("upload", "--file", await image(workDir, "1.1.0", "good"), "--version", "1.1.0");
    const deployed = await ota(
      "deploy",
      "--version",
      "1.1.0",
      "--canary",
      canaryGroup,
      "--target",
      fleetGroup,
      "--poll-seconds",
      "1",
      "--watch-timeout-minutes",
      "5",
    );
    counts.canarySucceeded = (deployed.canary as { succeeded?: number } | undefined)?.succeeded ?? 0;
    counts.promoted = deployed.promoted === true;
    if (counts.promoted) counts.fleetSucceeded = (await terminal(deployed.fleetJobId as string)).filter((e) => e.status === "SUCCEEDED").length;

    // 3. A corrupted image.
    await ota("upload", "--file", await image(workDir, "1.2.0", "good"), "--version", "1.2.0");
    await corrupt(twin, s3, workDir, "1.2.0");
    const corruptJob = await ota("deploy", "--version", "1.2.0", "--target", PROBE_CORRUPT_GROUP);
    const corrupted = await terminal(corruptJob.jobId as string);
    counts.corruptFailed = corrupted.filter((e) => e.status === "FAILED" && e.statusDetails.reason === "checksum mismatch").length;
    if ((await fs.readFile(path.join(workDir, "slots", thing(2), "slot-version"), "utf8")) !== "1.1.0")
      problems.push("the corrupted image changed the Pi's firmware slot");

    // 4. A build whose health check fails.
    await ota("upload", "--file", await image(workDir, "1.3.0-broken", "BROKEN"), "--version", "1.3.0-broken");
    const brokenJob = await ota("deploy", "--version", "1.3.0-broken", "--target", PROBE_BROKEN_GROUP);
    const broken = await terminal(brokenJob.jobId as string);
    counts.rolledBack = broken.filter(
      (e) => e.status === "FAILED" && e.statusDetails.rolledBack === "true" && e.statusDetails.restoredVersion === "1.1.0",
    ).length;

    // 5. The fleet's versions from the shadows, as status reports them.
    const status = await ota("status", deployed.fleetJobId as string);
    counts.versions = (status.versions as Record<string, number> | undefined) ?? {};
  } finally {
    iot.destroy();
  }
  const expect = (what: string, ok: boolean) => ok || problems.push(what);
  expect(`canarySucceeded ${counts.canarySucceeded}, expected 2`, counts.canarySucceeded === 2);
  expect("the rollout was not promoted", counts.promoted);
  expect(`fleetSucceeded ${counts.fleetSucceeded}, expected ${pis.length}`, counts.fleetSucceeded === pis.length);
  expect(`corruptFailed ${counts.corruptFailed}, expected 1`, counts.corruptFailed === 1);
  expect(`rolledBack ${counts.rolledBack}, expected 1`, counts.rolledBack === 1);
  expect(
    `versions ${JSON.stringify(counts.versions)}, expected every Pi on 1.1.0`,
    counts.versions["1.1.0"] === pis.length && Object.keys(counts.versions).length === 1,
  );
  return { ok: problems.length === 0, counts, problems, durationMs: Date.now() - startedAt };
}

export function formatOtaSummary(result: OtaResult): string[] {
  return [`ota: ${result.ok ? "OK" : "FAILED"} in ${Math.round(result.durationMs / 100) / 10} s`, ...result.problems.map((p) => `  - ${p}`)];
}

/** The simulated firmware slot: the installer copies the image there; the health check refuses a broken build. */
async function writeDeviceTools(dir: string): Promise<{ install: string; health: string }> {
  const install = path.join(dir, "install-firmware.sh");
  const health = path.join(dir, "health-check.sh");
  await fs.writeFile(
    install,
    `#!/bin/sh\n# usage: install-firmware.sh <slot dir> <image>\nset -eu\ncp "$2" "$1/slot.bin"\nprintf '%s' "$FIRMWARE_VERSION" > "$1/slot-version"\n`,
    { mode: 0o755 },
  );
  await fs.writeFile(
    health,
    `#!/bin/sh\n# usage: health-check.sh <slot dir>\nif grep -q BROKEN "$1/slot.bin"; then echo "firmware service did not start"; exit 1; fi\n`,
    { mode: 0o755 },
  );
  return { install, health };
}

async function image(dir: string, version: string, marker: string): Promise<string> {
  const file = path.join(dir, `firmware-${version}.bin`);
  await fs.writeFile(file, `${marker} firmware ${version}\n`.repeat(2000));
  return file;
}

/** Overwrite the stored image with other bytes, keeping the metadata the job document comes from. */
async function corrupt(twin: LocalTwin, s3: LocalTwin["topicRules"]["s3"]["client"], workDir: string, version: string): Promise<void> {
  const key = `firmware/${version}/firmware-${version}.bin`;
  const original = await fs.readFile(path.join(workDir, `firmware-${version}.bin`));
  const damaged = Buffer.from(original);
  damaged[100] = damaged[100]! ^ 0xff;
  await s3.send(
    new PutObjectCommand({
      Bucket: twin.names.firmwareBucket,
      Key: key,
      Body: damaged,
      Metadata: { version, sha256: createHash("sha256").update(original).digest("hex") },
    }),
  );
}
