/**
 * `smart-home-device provision` (the real CLI, as a child process) against the twin's IoT endpoint: the
 * front end answers the fleet-provisioning API through the identity plane, which runs the synthesized
 * template and (here) a test hook.
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { EXIT } from "../../device/cli";
import { findFreePort } from "../../local/broker";
import { certificateIdOf, commonNameOf } from "../../local/pki";
import { pendingCertificatePath } from "../../device/pending-certificate";
import { DeviceProcess, TestEnv, createTestEnv, waitFor } from "../support/broker";

jest.setTimeout(120_000);

describe("device provisioning (CSR flow)", () => {
  let env: TestEnv;
  const deniedSerials = new Set<string>();
  /** Per-serial hook behaviour for one test (default: allow unless denied). */
  const customHooks = new Map<string, () => Promise<{ allowProvisioning: boolean }>>();

  beforeAll(async () => {
    env = await createTestEnv({
      deviceConfiguration: { telemetryIntervalSeconds: "60" },
      // Long enough for a hook that outlasts the device's attempt (the lost-answer test).
      hookTimeoutMs: 30_000,
      preProvisioningHook: (event) => {
        const custom = customHooks.get(event.parameters.SerialNumber ?? "");
        if (custom) return custom();
        return { allowProvisioning: !deniedSerials.has(event.parameters.SerialNumber ?? "") };
      },
    });
  });

  afterAll(async () => {
    await env?.close();
  });

  it("GIVEN a fresh Pi with the claim certificate WHEN it provisions THEN it gets a certificate for its own key and a thing named after its serial", async () => {
    // GIVEN: the serial comes from a /proc/cpuinfo-style file
    const cpuinfo = path.join(env.dir, "cpuinfo-a");
    await fs.writeFile(cpuinfo, "processor\t: 0\nHardware\t: BCM2835\nSerial\t\t: 10000000abcd0001\nModel\t\t: Raspberry Pi 4 Model B\n");
    const { config, configPath } = await env.freshDevice("pi-a", { serialFile: cpuinfo });

    // WHEN
    const proc = new DeviceProcess(["provision", "--config", configPath]);
    const code = await proc.exitCode();

    // THEN
    expect(code).toBe(EXIT.OK);
    const certPem = await fs.readFile(config.certFile, "utf8");
    const keyPem = await fs.readFile(config.keyFile, "utf8");
    expect(new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
    expect(commonNameOf(certPem)).toBe("10000000abcd0001");
    const thing = JSON.parse(await fs.readFile(config.thingFile, "utf8"));
    expect(thing).toMatchObject({
      thingName: "10000000abcd0001",
      serialNumber: "10000000abcd0001",
      deviceType: "thermostat",
      certificateId: certificateIdOf(certPem),
      deviceConfiguration: { telemetryIntervalSeconds: "60" },
    });
    const registered = env.plane.registry.getCertificate(certificateIdOf(certPem));
    expect(registered?.status).toBe("ACTIVE");
    expect(env.plane.registry.principalThings(registered!.certificateArn)).toEqual(["10000000abcd0001"]);
  });

  it("GIVEN a provisioning request WHEN the hook is called THEN it gets AWS's event shape", async () => {
    const event = env.hookEvents.find((e) => e.parameters.SerialNumber === "10000000abcd0001");
    expect(event).toEqual({
      claimCertificateId: certificateIdOf(env.claim.certPem),
      certificateId: expect.stringMatching(/^[0-9a-f]{64}$/),
      certificatePem: expect.stringContaining("BEGIN CERTIFICATE"),
      templateArn: env.plane.registry.arn(`provisioningtemplate/${env.templateName}`),
      clientId: "provision-10000000abcd0001",
      parameters: { SerialNumber: "10000000abcd0001", DeviceType: "thermostat" },
    });
  });

  it("GIVEN a provisioned Pi WHEN provision runs again THEN it does nothing", async () => {
    const { config, configPath } = await env.freshDevice("pi-a");
    const before = await fs.readFile(config.certFile, "utf8");
    const hookCalls = env.hookEvents.length;

    const proc = new DeviceProcess(["provision", "--config", configPath, "--serial-number", "10000000abcd0001"]);

    expect(await proc.exitCode()).toBe(EXIT.OK);
    expect(proc.logs().some((r) => r.msg === "already provisioned; nothing to do")).toBe(true);
    expect(await fs.readFile(config.certFile, "utf8")).toBe(before);
    expect(env.hookEvents.length).toBe(hookCalls);
  });

  it("GIVEN a provisioned Pi THEN its certificate, key and thing record are readable by its user only (0600)", async () => {
    const { config } = await env.freshDevice("pi-a");
    for (const file of [config.certFile, config.keyFile, config.thingFile]) {
      expect(((await fs.stat(file)).mode & 0o777).toString(8)).toBe("600");
    }
  });

  it("fails with the 'denied' exit code and does not retry WHEN the pre-provisioning hook denies the serial", async () => {
    // GIVEN
    deniedSerials.add("denied0001");
    const { config, configPath } = await env.freshDevice("pi-denied", { serialNumber: "denied0001" });

    // WHEN
    const proc = new DeviceProcess(["provision", "--config", configPath]);

    // THEN
    expect(await proc.exitCode()).toBe(EXIT.DENIED);
    expect(env.hookEvents.filter((e) => e.parameters.SerialNumber === "denied0001")).toHaveLength(1);
    await expect(fs.stat(config.thingFile)).rejects.toThrow();
    const denial = proc.logs().find((r) => r.msg === "provisioning denied by the registry; not retrying");
    expect(denial).toMatchObject({ statusCode: 403, errorCode: "AccessDenied" });
  });

  it("fails with the 'temporary failure' exit code after bounded retries WHEN the endpoint is unreachable", async () => {
    // GIVEN: nothing listens on this port
    const deadPort = await findFreePort();
    const { config, configPath } = await env.freshDevice("pi-offline", {
      serialNumber: "offline0001",
      provisioningPort: deadPort,
      provisioning: { maxAttempts: 2, attemptTimeoutMs: 5000, backoff: { baseMs: 50, maxMs: 100 } },
    });

    // WHEN
    const proc = new DeviceProcess(["provision", "--config", configPath]);

    // THEN
    expect(await proc.exitCode()).toBe(EXIT.TEMPFAIL);
    expect(proc.logs().filter((r) => r.msg === "provisioning attempt failed; retrying")).toHaveLength(1);
    await expect(fs.stat(config.thingFile)).rejects.toThrow();
  });

  it("GIVEN a Pi with a provisioning token file WHEN it provisions THEN the hook gets the token as ProvisioningToken", async () => {
    // GIVEN: CI wrote the token (with a trailing newline) next to the config
    const { config, configPath } = await env.freshDevice("pi-token", { serialNumber: "token0001", provisioning: { tokenFile: "provisioning-token" } });
    await fs.writeFile(path.join(path.dirname(configPath), "provisioning-token"), "tok-5f2a9c1e7b3d4a60\n", { mode: 0o600 });

    // WHEN
    const proc = new DeviceProcess(["provision", "--config", configPath]);

    // THEN the token reached the hook, and no log line carries it
    expect(await proc.exitCode()).toBe(EXIT.OK);
    const event = env.hookEvents.find((e) => e.parameters.SerialNumber === "token0001");
    expect(event?.parameters).toEqual({ SerialNumber: "token0001", DeviceType: "thermostat", ProvisioningToken: "tok-5f2a9c1e7b3d4a60" });
    expect(proc.lines.join("\n")).not.toContain("tok-5f2a9c1e7b3d4a60");
    await expect(fs.stat(config.thingFile)).resolves.toBeDefined();
  });

  it.each([
    ["is missing", undefined],
    ["is empty", "  \n"],
  ])("fails with the configuration exit code and asks nothing WHEN the named token file %s", async (_name, content) => {
    // GIVEN a config naming a token file that is missing or empty
    const serial = content === undefined ? "notoken0001" : "notoken0002";
    const { configPath } = await env.freshDevice(`pi-${serial}`, { serialNumber: serial, provisioning: { tokenFile: "provisioning-token" } });
    if (content !== undefined) await fs.writeFile(path.join(path.dirname(configPath), "provisioning-token"), content);

    // WHEN
    const proc = new DeviceProcess(["provision", "--config", configPath]);

    // THEN it stops with a clear configuration error, before any provisioning request
    expect(await proc.exitCode()).toBe(EXIT.CONFIG);
    expect(proc.logs().find((r) => r.msg === "configuration error")?.error).toMatch(/provisioning\.tokenFile .*provisioning-token/);
    expect(env.hookEvents.filter((e) => e.parameters.SerialNumber === serial)).toEqual([]);
  });

  it("GIVEN a lost RegisterThing answer WHEN the device retries THEN it keeps its certificate and ownership token and is provisioned", async () => {
    // GIVEN: the first RegisterThing is answered only after the device gave that attempt up
    const serial = "lostanswer01";
    const started: { proc?: DeviceProcess } = {};
    const retries = () => (started.proc?.logs() ?? []).filter((r) => r.msg === "provisioning attempt failed; retrying").length;
    let calls = 0;
    customHooks.set(serial, async () => {
      calls += 1;
      if (calls === 1) {
        const before = retries();
        await waitFor(() => retries() > before, "the device to give up its attempt", 25_000);
      }
      return { allowProvisioning: true };
    });
    const { config, configPath } = await env.freshDevice("pi-lost", {
      serialNumber: serial,
      provisioning: { maxAttempts: 4, attemptTimeoutMs: 8000, backoff: { baseMs: 50, maxMs: 100 } },
    });

    // WHEN
    const proc = new DeviceProcess(["provision", "--config", configPath]);
    started.proc = proc;

    // THEN it is provisioned, every RegisterThing named the same certificate, and that is the one on disk
    expect(await proc.exitCode()).toBe(EXIT.OK);
    const certificateIds = env.hookEvents.filter((e) => e.parameters.SerialNumber === serial).map((e) => e.certificateId);
    expect(certificateIds.length).toBeGreaterThanOrEqual(2);
    expect(new Set(certificateIds).size).toBe(1);
    expect(certificateIdOf(await fs.readFile(config.certFile, "utf8"))).toBe(certificateIds[0]);
    expect(proc.logs().some((r) => r.msg === "retrying RegisterThing with the certificate issued before")).toBe(true);
    // the pending record is gone once the thing is registered
    await expect(fs.stat(pendingCertificatePath(config))).rejects.toThrow();
  });
});
