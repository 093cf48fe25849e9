/**
 * Certificate rotation on the Pi against the twin's IoT front end (the synthesized device policy and
 * rotation template): CreateCertificateFromCsr and RegisterThing over the device's own connection, the
 * switch to the new certificate, and a power cut at every step leaving a device that still connects
 * with one of its two certificates.
 */
import * as fs from "node:fs";
import { DeviceAgent } from "../../device/agent";
import { DeviceConfig } from "../../device/config";
import { certificateIdOf, loadPendingRotation, previousIdentity, recoverIdentity, rotationPath } from "../../device/identity-files";
import { ThingRecord } from "../../device/provision";
import { RotationDeniedError, rotateCertificate } from "../../device/rotation";
import type { PreProvisioningHookEvent } from "../../local/iot-core/identity-plane";
import { CLAIM_IDENTITY } from "../../local/iot-core/stack-identities";
import { createKeyAndCsr } from "../../device/provision";
import { CSR_TOPIC, registerTopic } from "../../device/rotation";
import { DEV_NAMES, TestEnv, createTestEnv, memoryLogger, waitFor } from "../support/broker";

jest.setTimeout(90_000);

const ROTATION = DEV_NAMES.rotationTemplate;

describe("certificate rotation on the device", () => {
  let env: TestEnv;
  /** The registry as the rotation hook sees it: serial -> its current certificate. */
  const current = new Map<string, string>();
  const agents: DeviceAgent[] = [];

  // The rotation hook's rule (functions/provisioning-hook/rotation.ts, tested against dynalite on its own).
  function hook(event: PreProvisioningHookEvent) {
    if (!event.templateArn.endsWith(`/${ROTATION}`)) return { allowProvisioning: false };
    const serial = event.parameters.SerialNumber ?? "";
    if (current.get(serial) !== event.claimCertificateId) return { allowProvisioning: false };
    current.set(serial, event.certificateId);
    return { allowProvisioning: true };
  }

  beforeAll(async () => {
    env = await createTestEnv({ preProvisioningHook: hook });
  });
  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.stop(2000)));
  });
  afterAll(async () => {
    await env?.close();
  });

  async function device(serial: string, overrides: Record<string, unknown> = {}): Promise<{ config: DeviceConfig; thing: ThingRecord }> {
    const d = await env.provisionedDevice(serial, { certificateRotation: { templateName: ROTATION, maxAgeDays: 0, ...overrides } });
    current.set(serial, d.thing.certificateId);
    return d;
  }

  async function start(config: DeviceConfig): Promise<DeviceAgent> {
    recoverIdentity(config, JSON.parse(fs.readFileSync(config.thingFile, "utf8")) as ThingRecord, memoryLogger().log);
    const thing = JSON.parse(fs.readFileSync(config.thingFile, "utf8")) as ThingRecord;
    const agent = new DeviceAgent({ config, thing, log: memoryLogger().log }).start();
    agents.push(agent);
    await waitFor(() => agent.ready, "the device to connect and subscribe");
    return agent;
  }

  const connectedWith = (serial: string) => env.lifecycle.filter((e) => e.clientId === serial && e.eventType === "connected").map((e) => e.principalIdentifier);
  const mainCertificateId = (config: DeviceConfig) => certificateIdOf(fs.readFileSync(config.certFile, "utf8"));

  test("GIVEN a connected device WHEN it rotates THEN it reconnects with a new ACTIVE certificate attached to its thing, and drops the old pair", async () => {
    const { config, thing } = await device("ROT-HAPPY-0001");
    const agent = await start(config);
    const hookCalls = env.hookEvents.length;
    const next = await agent.rotateCertificate();
    // The hook saw the device's current certificate as the caller, the rotation template, and the new one.
    const call = env.hookEvents.slice(hookCalls).find((e) => e.templateArn.endsWith(`/${ROTATION}`))!;
    expect(call).toMatchObject({ claimCertificateId: thing.certificateId, certificateId: next, parameters: { SerialNumber: "ROT-HAPPY-0001" } });
    const record = env.plane.registry.getCertificate(next)!;
    expect(record.status).toBe("ACTIVE");
    expect(env.plane.registry.principalThings(record.certificateArn)).toEqual(["ROT-HAPPY-0001"]);
    await waitFor(() => connectedWith("ROT-HAPPY-0001").includes(next), "a connection with the new certificate");
    // On disk: the new pair and thing.json; the old pair and the rotation record are gone once connected.
    expect(mainCertificateId(config)).toBe(next);
    expect(JSON.parse(fs.readFileSync(config.thingFile, "utf8")).certificateId).toBe(next);
    await waitFor(() => !fs.existsSync(previousIdentity(config).certFile) && !fs.existsSync(rotationPath(config)), "the old pair dropped");
    // The private key never left the device: the hook event carries the certificate only.
    expect(JSON.stringify(call)).not.toContain("PRIVATE KEY");
    expect(fs.statSync(config.keyFile).mode & 0o777).toBe(0o600);
  });

  test("fails when the registry denies (the certificate is not the row's): nothing on disk changes and the device stays connected", async () => {
    const { config, thing } = await device("ROT-DENY-0001");
    const agent = await start(config);
    current.set("ROT-DENY-0001", "f".repeat(64)); // the registry holds another certificate
    await expect(agent.rotateCertificate()).rejects.toBeInstanceOf(RotationDeniedError);
    expect(mainCertificateId(config)).toBe(thing.certificateId);
    expect(fs.existsSync(rotationPath(config))).toBe(false);
    expect(agent.connected).toBe(true);
  });

  test("fails when the claim template's topics are used by a device (its policy allows only the rotation template)", async () => {
    const { config } = await device("ROT-CLAIM-0001");
    const agent = await start(config);
    await expect(agent.exchange(`$aws/provisioning-templates/${DEV_NAMES.provisioningTemplate}/provision/json`, {}, 3000)).rejects.toThrow(/refused/);
  });

  test("fails when a stolen claim certificate publishes to the rotation template: its policy refuses it and the hook is never called", async () => {
    const claim = await env.connectAs(CLAIM_IDENTITY, "provision-ROT-THIEF-01");
    const hookCalls = env.hookEvents.length;
    await expect(claim.publish(registerTopic(ROTATION), { certificateOwnershipToken: "x", parameters: { SerialNumber: "ROT-HAPPY-0001" } })).rejects.toThrow(
      /refused/,
    );
    expect(env.hookEvents.length).toBe(hookCalls);
  });

  test("fails when another device asks for a rotation of this serial: the hook sees the thief's certificate and denies (403)", async () => {
    const victim = await device("ROT-VICTIM-001");
    const thief = await device("ROT-THIEF-0001");
    const agent = await start(thief.config);
    const { csrPem } = await createKeyAndCsr("ROT-VICTIM-001");
    const issued = await agent.exchange(CSR_TOPIC, { certificateSigningRequest: csrPem });
    expect(issued.accepted).toBe(true);
    const token = (issued.body as { certificateOwnershipToken: string }).certificateOwnershipToken;
    const answer = await agent.exchange(registerTopic(ROTATION), { certificateOwnershipToken: token, parameters: { SerialNumber: "ROT-VICTIM-001" } });
    expect(answer).toEqual({ accepted: false, body: expect.objectContaining({ statusCode: 403, errorCode: "AccessDenied" }) });
    expect(env.hookEvents.at(-1)).toMatchObject({ claimCertificateId: thief.thing.certificateId, parameters: { SerialNumber: "ROT-VICTIM-001" } });
    // The victim's thing has only its own certificate; the thief's new one stays unattached and pending.
    const newId = (issued.body as { certificateId: string }).certificateId;
    expect(env.plane.registry.getCertificate(newId)?.status).toBe("PENDING_ACTIVATION");
    expect(current.get("ROT-VICTIM-001")).toBe(victim.thing.certificateId);
  });

  describe("a power cut at each step leaves a device that connects with one of its two certificates", () => {
    /** Rotate with the agent's connection, cutting the power (stopping the agent) right after `step`. */
    async function cutAfter(serial: string, step: "issued" | "registered" | "installed") {
      const { config, thing } = await device(serial);
      const agent = await start(config);
      class PowerCut extends Error {}
      await expect(
        rotateCertificate({
          config,
          thing,
          exchange: (t, b) => agent.exchange(t, b),
          log: memoryLogger().log,
          afterStep: (s) => {
            if (s === step) throw new PowerCut();
          },
        }),
      ).rejects.toBeInstanceOf(PowerCut);
      await agent.stop(2000);
      agents.splice(agents.indexOf(agent), 1);
      return { config, thing };
    }

    test("after CreateCertificateFromCsr: it restarts with the old one and finishes the rotation with the SAME new certificate", async () => {
      const { config, thing } = await cutAfter("ROT-CUT-ISSUED1", "issued");
      const issued = loadPendingRotation(config)!;
      expect(issued.registered).toBe(false);
      const agent = await start(config);
      // The agent restarts with the old certificate, then resumes on its own (the caller is still the row's certificate).
      await waitFor(() => connectedWith("ROT-CUT-ISSUED1").includes(issued.certificateId), "a connection with the certificate issued before the cut");
      const principals = connectedWith("ROT-CUT-ISSUED1");
      expect(principals.lastIndexOf(thing.certificateId)).toBeLessThan(principals.indexOf(issued.certificateId));
      expect(mainCertificateId(config)).toBe(issued.certificateId);
      await waitFor(() => agent.connected, "the agent to see its connection");
    });

    test("after RegisterThing accepted: it rolls forward to the new certificate at the next start, with the answer's configuration", async () => {
      const { config, thing } = await cutAfter("ROT-CUT-REGIST1", "registered");
      const registered = loadPendingRotation(config)!;
      expect(registered.registered).toBe(true);
      expect(registered.deviceConfiguration).toEqual({ TelemetryRuleName: DEV_NAMES.telemetryStoreRule });
      // As a Pi provisioned before the template named the rule: the roll-forward writes the rule into thing.json.
      fs.writeFileSync(config.thingFile, JSON.stringify({ ...thing, deviceConfiguration: {} }));
      await start(config);
      expect(mainCertificateId(config)).toBe(registered.certificateId);
      expect(JSON.parse(fs.readFileSync(config.thingFile, "utf8")).deviceConfiguration).toEqual({ TelemetryRuleName: DEV_NAMES.telemetryStoreRule });
      await waitFor(() => connectedWith("ROT-CUT-REGIST1").includes(registered.certificateId), "a connection with the new certificate");
    });

    test("with a rotation record whose deviceConfiguration is not a string map: the switch still finishes, the configuration is left as it was", async () => {
      const { config, thing } = await cutAfter("ROT-CUT-BADCFG1", "registered");
      const record = JSON.parse(fs.readFileSync(rotationPath(config), "utf8"));
      fs.writeFileSync(rotationPath(config), JSON.stringify({ ...record, deviceConfiguration: { TelemetryRuleName: ["#"] } }));
      const loaded = loadPendingRotation(config)!;
      expect(loaded).toMatchObject({ registered: true, certificateId: record.certificateId });
      expect(loaded).not.toHaveProperty("deviceConfiguration");
      await start(config);
      expect(mainCertificateId(config)).toBe(record.certificateId);
      expect(JSON.parse(fs.readFileSync(config.thingFile, "utf8")).deviceConfiguration).toEqual(thing.deviceConfiguration);
    });

    test("between writing the new key and the new certificate (torn pair): it rolls forward", async () => {
      const { config } = await cutAfter("ROT-CUT-TORN001", "registered");
      const registered = loadPendingRotation(config)!;
      fs.writeFileSync(config.keyFile, registered.keyPem, { mode: 0o600 }); // key written, certificate not yet
      await start(config);
      await waitFor(() => connectedWith("ROT-CUT-TORN001").includes(registered.certificateId), "a connection with the new certificate");
    });

    test("after the switch, before the new certificate ever connected, with the new one refused: it goes back to the old one", async () => {
      const { config, thing } = await cutAfter("ROT-CUT-FALLBK1", "installed");
      const installed = loadPendingRotation(config)!;
      env.plane.registry.setCertificateStatus(installed.certificateId, "INACTIVE");
      const cfg = { ...config, certificateRotation: { ...config.certificateRotation, fallbackAfterFailures: 2 } };
      const agent = new DeviceAgent({ config: cfg, thing: { ...thing, certificateId: installed.certificateId }, log: memoryLogger().log }).start();
      agents.push(agent);
      await waitFor(() => agent.ready, "the device to connect with its previous certificate", 60_000);
      expect(connectedWith("ROT-CUT-FALLBK1").at(-1)).toBe(thing.certificateId);
      // The old pair is still kept (the new one never connected).
      expect(fs.existsSync(previousIdentity(config).certFile)).toBe(true);
    });

    test("with a garbled main pair and no rotation record: it restores the previous pair", async () => {
      const { config, thing } = await cutAfter("ROT-CUT-GARBLE1", "installed");
      fs.rmSync(rotationPath(config));
      fs.writeFileSync(config.certFile, "garbage", { mode: 0o600 });
      expect(recoverIdentity(config, thing, memoryLogger().log)).toBe("rolled-back");
      await start(config);
      expect(connectedWith("ROT-CUT-GARBLE1").at(-1)).toBe(thing.certificateId);
    });
  });

  test("GIVEN a Pi provisioned before the template named the telemetry rule WHEN it rotates THEN it learns the rule from RegisterThing and its telemetry moves to Basic Ingest", async () => {
    const serial = "ROT-OLDPI-0001";
    const { config, thing } = await env.provisionedDevice(serial, {
      telemetryIntervalSeconds: 1,
      certificateRotation: { templateName: ROTATION, maxAgeDays: 0 },
    });
    current.set(serial, thing.certificateId);
    fs.writeFileSync(config.thingFile, JSON.stringify({ ...thing, deviceConfiguration: {} }));
    const agent = await start(config);
    // Before: the plain topic, which costs a message and reaches subscribers.
    await env.observer.waitForMessage(`devices/${serial}/telemetry`);
    expect(env.basicIngest.some((m) => m.clientId === serial)).toBe(false);
    await agent.rotateCertificate();
    const stored = JSON.parse(fs.readFileSync(config.thingFile, "utf8")) as ThingRecord;
    expect(stored.deviceConfiguration).toEqual({ TelemetryRuleName: DEV_NAMES.telemetryStoreRule });
    // After: Basic Ingest to the store rule, on the same connection's successor, without a restart.
    const ingested = await waitFor(() => env.basicIngest.find((m) => m.clientId === serial), "telemetry through Basic Ingest");
    expect(ingested).toMatchObject({ ruleName: DEV_NAMES.telemetryStoreRule, topic: `devices/${serial}/telemetry` });
  });

  test("GIVEN a certificate older than maxAgeDays WHEN the device connects THEN it rotates on its own", async () => {
    const { config, thing } = await device("ROT-AGE-000001", { maxAgeDays: 0.000001 });
    await start(config);
    await waitFor(() => connectedWith("ROT-AGE-000001").some((p) => p !== thing.certificateId), "a connection with a rotated certificate");
    expect(mainCertificateId(config)).not.toBe(thing.certificateId);
  });
});
