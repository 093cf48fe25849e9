/**
 * OTA recovery on the Pi, against the twin's broker and jobs service: a health check that never passes
 * rolls back to the previous version, an update interrupted by a restart resumes where it stopped, and a
 * job for the running version succeeds without reinstalling.
 */
import { createHash } from "node:crypto";
import { once } from "node:events";
import { promises as fs } from "node:fs";
import * as http from "node:http";
import { AddressInfo } from "node:net";
import * as path from "node:path";
import { DeviceAgent } from "../../device/agent";
import { DeviceConfig } from "../../device/config";
import { ThingRecord } from "../../device/provision";
import { JobsService } from "../../local/jobs-service";
import { TWIN_SERVICE_IDENTITY } from "../../local/iot-core/stack-identities";
import { TestEnv, createTestEnv, memoryLogger, waitFor } from "../support/broker";

jest.setTimeout(60_000);

describe("OTA recovery on the device", () => {
  const firmware = Buffer.from("firmware image for recovery tests\n".repeat(1000));
  const sha256 = createHash("sha256").update(firmware).digest("hex");
  let env: TestEnv;
  let jobs: JobsService;
  let server: http.Server;
  let baseUrl: string;
  let downloads = 0;
  const agents: DeviceAgent[] = [];

  /** Installer: logs `<version> <rollback?> <file>`; blocks (exec sleep) while `<dir>/block` exists. */
  async function tools(dir: string): Promise<{ installer: string; health: string; installLog: string; block: string }> {
    const installLog = path.join(dir, "install.log");
    const block = path.join(dir, "block");
    const installer = path.join(dir, "install.sh");
    await fs.writeFile(
      installer,
      `#!/bin/sh\nset -eu\nprintf '%s %s %s\\n' "$FIRMWARE_VERSION" "\${FIRMWARE_ROLLBACK:-0}" "$1" >> '${installLog}'\n[ -e '${block}' ] && exec sleep 30\nexit 0\n`,
      { mode: 0o755 },
    );
    // Healthy unless the version says it is broken.
    const health = path.join(dir, "health.sh");
    await fs.writeFile(health, `#!/bin/sh\ncase "$FIRMWARE_VERSION" in *broken*) echo "service did not start"; exit 1;; esac\nexit 0\n`, { mode: 0o755 });
    return { installer, health, installLog, block };
  }

  async function device(serial: string): Promise<{ config: DeviceConfig; thing: ThingRecord; t: Awaited<ReturnType<typeof tools>> }> {
    const dir = path.join(env.dir, `${serial}-tools`);
    await fs.mkdir(dir, { recursive: true });
    const t = await tools(dir);
    const { config, thing } = await env.provisionedDevice(serial, {
      installCommand: [t.installer],
      healthCheckCommand: [t.health],
      healthCheckTimeoutSeconds: 1,
      healthCheckIntervalSeconds: 0.2,
    });
    return { config, thing, t };
  }

  async function startAgent(config: DeviceConfig, thing: ThingRecord): Promise<DeviceAgent> {
    const agent = new DeviceAgent({ config, thing, log: memoryLogger().log }).start();
    agents.push(agent);
    await waitFor(() => agent.ready, "the device to connect and subscribe");
    return agent;
  }

  const job = (version: string) => ({ operation: "firmware-update", version, url: `${baseUrl}/fw.bin`, sha256, size: firmware.length });
  const installLines = async (file: string): Promise<string[]> => (await fs.readFile(file, "utf8").catch(() => "")).trim().split("\n").filter(Boolean);

  beforeAll(async () => {
    env = await createTestEnv();
    jobs = await JobsService.start({ client: await env.connectAs(TWIN_SERVICE_IDENTITY, `${TWIN_SERVICE_IDENTITY}-jobs`) });
    server = http.createServer((_req, res) => {
      downloads++;
      res.writeHead(200, { "content-length": firmware.length }).end(firmware);
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await jobs?.close();
    server?.closeAllConnections();
    server?.close();
    await env?.close();
  });

  it("GIVEN version 1.0.0 installed by OTA WHEN the new build's health check never passes THEN the previous image is reinstalled and the job FAILS with the reason", async () => {
    // GIVEN
    const { config, thing, t } = await device("otarb01");
    const agent = await startAgent(config, thing);
    jobs.createJob(thing.thingName, "fw-good", job("1.0.0"));
    expect((await jobs.waitForTerminal(thing.thingName, "fw-good")).status).toBe("SUCCEEDED");

    // WHEN
    jobs.createJob(thing.thingName, "fw-broken", job("2.0.0-broken"));
    const done = await jobs.waitForTerminal(thing.thingName, "fw-broken");

    // THEN
    expect(done.status).toBe("FAILED");
    // The last attempt either failed by itself or was still running at the deadline on a loaded machine.
    expect(done.statusDetails.reason).toMatch(/^health check did not pass within 1 s: exited with (code 1|signal SIGKILL) \(service did not start\)$/);
    expect(done.statusDetails).toMatchObject({ version: "2.0.0-broken", rolledBack: "true", restoredVersion: "1.0.0" });
    const lines = await installLines(t.installLog);
    expect(lines[1]).toMatch(/^2\.0\.0-broken 0 .*fw-broken\.bin$/);
    expect(lines[2]).toMatch(/^1\.0\.0 1 .*current\.bin$/);
    expect(agent.status().firmwareVersion).toBe("1.0.0");
  });

  it("fails with rolledBack false and says why WHEN the factory version has no retained image and no rollback command", async () => {
    // GIVEN a device still on its factory firmware
    const { config, thing } = await device("otarb02");
    const agent = await startAgent(config, thing);

    // WHEN
    jobs.createJob(thing.thingName, "fw-broken-2", job("3.0.0-broken"));
    const done = await jobs.waitForTerminal(thing.thingName, "fw-broken-2");

    // THEN
    expect(done.status).toBe("FAILED");
    expect(done.statusDetails).toMatchObject({ rolledBack: "false", rollbackReason: "no retained image of 0.0.0 and no rollbackCommand configured" });
    expect(agent.status().firmwareVersion).toBe("0.0.0");
  });

  it("GIVEN a restart while the installer runs WHEN the device comes back THEN start-next hands the job back and it resumes at install without downloading again", async () => {
    // GIVEN
    const { config, thing, t } = await device("otars01");
    await fs.writeFile(t.block, "");
    const first = await startAgent(config, thing);
    jobs.createJob(thing.thingName, "fw-resume", job("4.0.0"));
    await waitFor(() => jobs.getExecution(thing.thingName, "fw-resume")?.statusDetails.step === "installing", "the install step");
    await waitFor(async () => (await installLines(t.installLog)).length === 1, "the installer to start");
    const downloadsBefore = downloads;
    await first.stop();
    expect(jobs.getExecution(thing.thingName, "fw-resume")?.status).toBe("IN_PROGRESS");

    // WHEN
    await fs.rm(t.block);
    const second = await startAgent(config, thing);
    const done = await jobs.waitForTerminal(thing.thingName, "fw-resume");

    // THEN
    expect(done.status).toBe("SUCCEEDED");
    expect(done.history.filter((h) => h.statusDetails.resumed === "true").map((h) => h.statusDetails.step)).toEqual(["installing", "health-check"]);
    expect(downloads).toBe(downloadsBefore);
    expect(await installLines(t.installLog)).toHaveLength(2);
    expect(second.status().firmwareVersion).toBe("4.0.0");
  });

  it("GIVEN a power cut after the installer finished WHEN the device comes back THEN only the health check runs and the job SUCCEEDS", async () => {
    // GIVEN the journal a power cut leaves behind after a completed install
    const { config, thing, t } = await device("otars02");
    jobs.createJob(thing.thingName, "fw-after-cut", job("5.0.0"));
    await fs.writeFile(
      path.join(config.dataDir, "ota-inflight.json"),
      JSON.stringify({ jobId: "fw-after-cut", version: "5.0.0", previousVersion: "0.0.0", phase: "checking" }),
    );

    // WHEN
    const agent = await startAgent(config, thing);
    const done = await jobs.waitForTerminal(thing.thingName, "fw-after-cut");

    // THEN
    expect(done.status).toBe("SUCCEEDED");
    expect(await installLines(t.installLog)).toHaveLength(0);
    expect(agent.status().firmwareVersion).toBe("5.0.0");
  });

  it("GIVEN the Pi already runs the version WHEN a job for it arrives THEN it SUCCEEDS without reinstalling", async () => {
    // GIVEN
    const { config, thing, t } = await device("otasame1");
    await startAgent(config, thing);

    // WHEN
    jobs.createJob(thing.thingName, "fw-same", job("0.0.0"));
    const done = await jobs.waitForTerminal(thing.thingName, "fw-same");

    // THEN
    expect(done.status).toBe("SUCCEEDED");
    expect(done.statusDetails).toEqual({ version: "0.0.0", note: "already running this version" });
    expect(await installLines(t.installLog)).toHaveLength(0);
  });

  it("GIVEN a power cut mid-install and the job canceled meanwhile WHEN the Pi comes back with nothing handed back THEN the unhealthy build is rolled back to the retained image", async () => {
    // GIVEN 1.0.0 retained, and the journal of a broken build the power cut left behind
    const { config, thing, t } = await device("otaorph1");
    await fs.mkdir(path.join(config.dataDir, "firmware"), { recursive: true });
    await fs.writeFile(path.join(config.dataDir, "firmware", "current.bin"), "image of 1.0.0");
    await fs.writeFile(path.join(config.dataDir, "firmware.json"), JSON.stringify({ version: "1.0.0" }));
    await fs.writeFile(
      path.join(config.dataDir, "ota-inflight.json"),
      JSON.stringify({ jobId: "fw-gone", version: "6.0.0-broken", previousVersion: "1.0.0", phase: "checking" }),
    );

    // WHEN
    const agent = await startAgent(config, thing);
    await waitFor(async () => (await installLines(t.installLog)).length === 1, "the rollback install");

    // THEN
    expect((await installLines(t.installLog))[0]).toMatch(/^1\.0\.0 1 .*current\.bin$/);
    await waitFor(async () => !(await fs.stat(path.join(config.dataDir, "ota-inflight.json")).catch(() => undefined)), "the journal cleared");
    expect(agent.status().firmwareVersion).toBe("1.0.0");
  });

  it("GIVEN the same power cut but a healthy build WHEN the Pi comes back with nothing handed back THEN it keeps and reports the new version", async () => {
    const { config, thing } = await device("otaorph2");
    await fs.writeFile(
      path.join(config.dataDir, "ota-inflight.json"),
      JSON.stringify({ jobId: "fw-gone-2", version: "6.1.0", previousVersion: "0.0.0", phase: "checking" }),
    );

    const agent = await startAgent(config, thing);

    await waitFor(() => agent.status().firmwareVersion === "6.1.0", "the interrupted version kept");
  });
});
