/**
 * OTA over the Jobs MQTT API: firmware from a local HTTP server, SHA-256 verified, installed by the
 * configured command; a checksum mismatch fails the job and never runs the installer.
 */
import { createHash } from "node:crypto";
import { once } from "node:events";
import { promises as fs } from "node:fs";
import * as http from "node:http";
import { AddressInfo } from "node:net";
import * as path from "node:path";
import { DeviceAgent } from "../../device/agent";
import { JobsService } from "../../local/jobs-service";
import { TWIN_SERVICE_IDENTITY } from "../../local/iot-core/stack-identities";
import { TestEnv, createTestEnv, memoryLogger, waitFor } from "../support/broker";

jest.setTimeout(60_000);

describe("OTA firmware update jobs", () => {
  const thingName = "ota0001";
  const firmware = Buffer.from("pretend this is a firmware image\n".repeat(2000));
  const sha256 = createHash("sha256").update(firmware).digest("hex");
  let env: TestEnv;
  let jobs: JobsService;
  let server: http.Server;
  let baseUrl: string;
  let agent: DeviceAgent;
  let installLog: string;

  beforeAll(async () => {
    env = await createTestEnv();
    jobs = await JobsService.start({ client: await env.connectAs(TWIN_SERVICE_IDENTITY, `${TWIN_SERVICE_IDENTITY}-jobs`) });
    server = http.createServer((req, res) => {
      if (req.url?.startsWith("/firmware.bin")) {
        res.writeHead(200, { "content-length": firmware.length });
        res.end(firmware);
      } else {
        res.writeHead(404).end();
      }
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    // The installer records its arguments and the file's hash, one line per run.
    installLog = path.join(env.dir, "install.log");
    const installer = path.join(env.dir, "install-firmware.sh");
    await fs.writeFile(
      installer,
      `#!/bin/sh\nset -eu\nprintf '%s %s %s\\n' "$FIRMWARE_VERSION" "$1" "$(sha256sum "$1" | cut -d' ' -f1)" >> '${installLog}'\n`,
      { mode: 0o755 },
    );
    const { config, thing } = await env.provisionedDevice(thingName, { installCommand: [installer] });
    agent = new DeviceAgent({ config, thing, log: memoryLogger().log }).start();
    await waitFor(() => agent.ready, "the device to connect and subscribe");
  });

  afterAll(async () => {
    await agent?.stop();
    await jobs?.close();
    server?.close();
    await env?.close();
  });

  it("GIVEN a firmware-update job WHEN the download matches its SHA-256 THEN the installer runs with the file and the job SUCCEEDS", async () => {
    // WHEN
    jobs.createJob(thingName, "fw-1-2-3", {
      operation: "firmware-update",
      version: "1.2.3",
      url: `${baseUrl}/firmware.bin?X-Amz-Signature=abc`,
      sha256,
      size: firmware.length,
    });
    const done = await jobs.waitForTerminal(thingName, "fw-1-2-3");

    // THEN
    expect(done.status).toBe("SUCCEEDED");
    expect(done.statusDetails).toEqual({ version: "1.2.3", previousVersion: "0.0.0" });
    expect(done.history.map((h) => h.status)).toEqual(["QUEUED", "IN_PROGRESS", "IN_PROGRESS", "IN_PROGRESS", "IN_PROGRESS", "SUCCEEDED"]);
    expect(done.history.map((h) => h.statusDetails.step).filter(Boolean)).toEqual(["downloading", "installing", "health-check"]);
    const [version, file, installedHash] = (await fs.readFile(installLog, "utf8")).trim().split(" ");
    expect(version).toBe("1.2.3");
    expect(file).toMatch(/fw-1-2-3\.bin$/);
    expect(installedHash).toBe(sha256);
    expect(agent.status().firmwareVersion).toBe("1.2.3");
  });

  it("fails the job with reason 'checksum mismatch' and never runs the installer WHEN the download does not match", async () => {
    // GIVEN
    const runsBefore = (await fs.readFile(installLog, "utf8")).trim().split("\n").length;
    const wrong = "0".repeat(64);

    // WHEN
    jobs.createJob(thingName, "fw-bad", { operation: "firmware-update", version: "6.6.6", url: `${baseUrl}/firmware.bin`, sha256: wrong });
    const done = await jobs.waitForTerminal(thingName, "fw-bad");

    // THEN
    expect(done.status).toBe("FAILED");
    expect(done.statusDetails).toMatchObject({ reason: "checksum mismatch", expectedSha256: wrong, actualSha256: sha256, version: "6.6.6" });
    expect((await fs.readFile(installLog, "utf8")).trim().split("\n")).toHaveLength(runsBefore);
    expect(agent.status().firmwareVersion).toBe("1.2.3");
  });

  it("fails the job with a reason WHEN the job document is not a firmware update", async () => {
    jobs.createJob(thingName, "not-ota", { operation: "reboot" });
    const done = await jobs.waitForTerminal(thingName, "not-ota");
    expect(done.status).toBe("FAILED");
    expect(done.statusDetails.reason).toMatch(/unsupported operation/);
  });
});
