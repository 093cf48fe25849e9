/**
 * The outgoing journal: results produced while the IoT endpoint is down (front end and the mosquitto
 * behind it) are delivered after it comes back, also when the device process is killed during the
 * outage and started again.
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { DeviceAgent } from "../../device/agent";
import { DeviceProcess, TestEnv, createTestEnv, memoryLogger, waitFor } from "../support/broker";

jest.setTimeout(120_000);

/**
 * A handler module whose `gate` command starts, writes `<dir>/<id>.started`, and finishes only once
 * `<dir>/<id>.release` exists: the test decides when the result is produced, without timing.
 */
const GATE_MODULE = `
const fs = require("node:fs");
const path = require("node:path");
exports.register = (registry) => {
  registry.register("gate", async (params, ctx) => {
    const dir = params.dir;
    fs.writeFileSync(path.join(dir, ctx.id + ".started"), "");
    while (!fs.existsSync(path.join(dir, ctx.id + ".release"))) await new Promise((r) => setTimeout(r, 20));
    return { released: ctx.id };
  });
};
`;

const exists = (file: string): Promise<boolean> =>
  fs.stat(file).then(
    () => true,
    () => false,
  );

describe("results survive outages", () => {
  let env: TestEnv;
  let gateModule: string;
  let gateDir: string;

  beforeAll(async () => {
    env = await createTestEnv();
    gateModule = path.join(env.dir, "gate.js");
    await fs.writeFile(gateModule, GATE_MODULE);
    gateDir = path.join(env.dir, "gates");
    await fs.mkdir(gateDir);
  });

  afterAll(async () => {
    await env?.close();
  });

  it("GIVEN a result produced while the broker is down WHEN the broker restarts THEN the result is delivered", async () => {
    // GIVEN a connected device working on a command
    const thingName = "outage0001";
    const { config, thing } = await env.provisionedDevice(thingName, { handlerModules: [gateModule] });
    const memory = memoryLogger();
    const agent = new DeviceAgent({ config, thing, log: memory.log }).start();
    try {
      await waitFor(() => agent.ready, "the device to connect and subscribe");
      const warmup = "warm-1";
      await env.observer.publish(`devices/${thingName}/commands`, { id: warmup, command: "ping" });
      await env.observer.waitForMessage(`devices/${thingName}/responses`, (m) => m.json?.id === warmup);
      const id = "during-outage-1";
      await env.observer.publish(`devices/${thingName}/commands`, { id, command: "gate", params: { dir: gateDir } });
      await waitFor(() => exists(path.join(gateDir, `${id}.started`)), "the handler to start");

      // WHEN the broker goes away, the result is produced, and the broker comes back
      await env.stopEndpoint();
      await waitFor(() => !agent.connected, "the device to notice the outage");
      await fs.writeFile(path.join(gateDir, `${id}.release`), "");
      await waitFor(() => agent.outbox.pending().some((e) => e.payload.includes(id)), "the result to be journaled");
      await env.startEndpoint();

      // THEN
      const msg = await env.observer.waitForMessage(`devices/${thingName}/responses`, (m) => m.json?.id === id, 30_000);
      expect(msg.json).toMatchObject({ id, command: "gate", status: "ok", result: { released: id } });
      await waitFor(() => agent.outbox.size === 0, "the journal to drain");
    } catch (err) {
      process.stdout.write(memory.lines.join("\n") + "\n");
      throw err;
    } finally {
      await agent.stop();
    }
  });

  it("GIVEN a journaled result WHEN the device process is killed during the outage and restarted THEN the result is delivered", async () => {
    // GIVEN the real CLI, connected, working on a command
    const thingName = "outage0002";
    const { config, configPath } = await env.provisionedDevice(thingName, { handlerModules: [gateModule] });
    const first = new DeviceProcess(["run", "--config", configPath]);
    let second: DeviceProcess | undefined;
    try {
      await first.waitForLog("subscribed");
      const id = "during-outage-2";
      await env.observer.publish(`devices/${thingName}/commands`, { id, command: "gate", params: { dir: gateDir } });
      await waitFor(() => exists(path.join(gateDir, `${id}.started`)), "the handler to start");

      // WHEN the broker goes down, the result lands in the journal, and the process is killed
      await env.stopEndpoint();
      await first.waitForLog("disconnected");
      await fs.writeFile(path.join(gateDir, `${id}.release`), "");
      const journal = path.join(config.dataDir, "outbox.journal");
      await waitFor(async () => (await fs.readFile(journal, "utf8")).includes(id), "the result in the journal");
      first.kill("SIGKILL");
      await first.exitCode();
      await env.startEndpoint();
      expect(env.observer.on(`devices/${thingName}/responses`).some((m) => m.json?.id === id)).toBe(false);

      // THEN a new process delivers it
      second = new DeviceProcess(["run", "--config", configPath]);
      const msg = await env.observer.waitForMessage(`devices/${thingName}/responses`, (m) => m.json?.id === id, 30_000);
      expect(msg.json).toMatchObject({ id, command: "gate", status: "ok", result: { released: id }, thingName });
      await second.waitForLog("undelivered messages from a previous run");

      // AND a SIGTERM shuts it down cleanly
      second.kill("SIGTERM");
      expect(await second.exitCode()).toBe(0);
      expect(second.logs().some((r) => r.msg === "stopped")).toBe(true);
    } finally {
      first.kill("SIGKILL");
      second?.kill("SIGKILL");
    }
  });
});
