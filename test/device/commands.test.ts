/**
 * `run`: commands in, responses and errors out (with correlation ids), the handler registry, telemetry,
 * and the synthesized device policy, against the twin's IoT endpoint (front end with mutual TLS, mosquitto
 * behind it).
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { DeviceAgent } from "../../device/agent";
import { CommandError } from "../../device/commands";
import { CLAIM_IDENTITY } from "../../local/iot-core/stack-identities";
import { DEV_NAMES, TestEnv, createTestEnv, memoryLogger, waitFor } from "../support/broker";

jest.setTimeout(60_000);

describe("device commands", () => {
  const thingName = "cmdtest0001";
  let env: TestEnv;
  let agent: DeviceAgent;
  let certificateId: string;
  let n = 0;
  const send = async (body: unknown): Promise<string> => {
    const id = `c-${++n}`;
    await env.observer.publish(`devices/${thingName}/commands`, typeof body === "function" ? (body as (id: string) => unknown)(id) : body);
    return id;
  };

  beforeAll(async () => {
    env = await createTestEnv();
    const moduleFile = path.join(env.dir, "handlers.js");
    await fs.writeFile(moduleFile, `exports.register = (registry) => registry.register("echo", (params) => ({ echoed: params }));\n`);
    const provisioned = await env.provisionedDevice(thingName, { handlerModules: [moduleFile], telemetryIntervalSeconds: 1 });
    agent = new DeviceAgent({
      config: provisioned.config,
      thing: provisioned.thing,
      log: memoryLogger().log,
      configure: (registry) => {
        registry.register("explode", () => {
          throw new Error("relay stuck");
        });
        registry.register("refuse", () => {
          throw new CommandError("NOT_ALLOWED", "not in this mode");
        });
      },
    }).start();
    certificateId = provisioned.thing.certificateId;
    await env.waitForClient(thingName);
    await waitFor(() => agent.ready, "the device to connect and subscribe");
  });

  afterAll(async () => {
    await agent?.stop();
    await env?.close();
  });

  it("GIVEN a ping WHEN the device handles it THEN the response carries the command's correlation id", async () => {
    const id = await send((id: string) => ({ id, command: "ping", params: {}, issuedAt: new Date().toISOString() }));
    const msg = await env.observer.waitForMessage(`devices/${thingName}/responses`, (m) => m.json?.id === id);
    expect(msg.json).toEqual({
      id,
      command: "ping",
      status: "ok",
      result: { pong: true, at: expect.any(String) },
      thingName,
      completedAt: expect.any(String),
    });
  });

  it("GIVEN set-state WHEN get-status follows THEN the state is persisted and reported", async () => {
    const setId = await send((id: string) => ({ id, command: "set-state", params: { mode: "heat", target: 21.5 } }));
    const set = await env.observer.waitForMessage(`devices/${thingName}/responses`, (m) => m.json?.id === setId);
    expect(set.json.result).toEqual({ state: { mode: "heat", target: 21.5 } });
    const statusId = await send((id: string) => ({ id, command: "get-status" }));
    const status = await env.observer.waitForMessage(`devices/${thingName}/responses`, (m) => m.json?.id === statusId);
    expect(status.json.result).toMatchObject({ thingName, firmwareVersion: "0.0.0", connected: true, state: { mode: "heat", target: 21.5 } });
    expect(status.json.result.commands).toEqual(expect.arrayContaining(["ping", "get-status", "set-state", "echo", "explode"]));
  });

  it("GIVEN a handler module listed in the config WHEN its command arrives THEN it handles it", async () => {
    const id = await send((id: string) => ({ id, command: "echo", params: { a: 1 } }));
    const msg = await env.observer.waitForMessage(`devices/${thingName}/responses`, (m) => m.json?.id === id);
    expect(msg.json.result).toEqual({ echoed: { a: 1 } });
  });

  it("fails with UNKNOWN_COMMAND on errors WHEN the command is not registered", async () => {
    const id = await send((id: string) => ({ id, command: "launch-rocket" }));
    const msg = await env.observer.waitForMessage(`devices/${thingName}/errors`, (m) => m.json?.id === id);
    expect(msg.json).toEqual({ id, command: "launch-rocket", code: "UNKNOWN_COMMAND", message: expect.any(String), thingName, at: expect.any(String) });
  });

  it("fails with HANDLER_ERROR WHEN the handler throws", async () => {
    const id = await send((id: string) => ({ id, command: "explode" }));
    const msg = await env.observer.waitForMessage(`devices/${thingName}/errors`, (m) => m.json?.id === id);
    expect(msg.json).toMatchObject({ id, command: "explode", code: "HANDLER_ERROR", message: "relay stuck" });
  });

  it("fails with the handler's own code WHEN it throws a CommandError", async () => {
    const id = await send((id: string) => ({ id, command: "refuse" }));
    const msg = await env.observer.waitForMessage(`devices/${thingName}/errors`, (m) => m.json?.id === id);
    expect(msg.json).toMatchObject({ id, code: "NOT_ALLOWED", message: "not in this mode" });
  });

  it("fails with BAD_PAYLOAD and a null id WHEN the payload is not JSON", async () => {
    await env.observer.publish(`devices/${thingName}/commands`, "{not json");
    const msg = await env.observer.waitForMessage(`devices/${thingName}/errors`, (m) => m.json?.code === "BAD_PAYLOAD" && m.json?.id === null);
    expect(msg.json).toMatchObject({ id: null, command: null, thingName });
  });

  it("fails with BAD_PAYLOAD and the correlation id WHEN params is not an object", async () => {
    const id = await send((id: string) => ({ id, command: "ping", params: [1, 2] }));
    const msg = await env.observer.waitForMessage(`devices/${thingName}/errors`, (m) => m.json?.id === id);
    expect(msg.json).toMatchObject({ id, command: "ping", code: "BAD_PAYLOAD" });
  });

  it("GIVEN a telemetry interval THEN the device publishes Pi metrics through Basic Ingest to the store rule, which no subscriber sees", async () => {
    const msg = await waitFor(() => env.basicIngest.find((m) => m.clientId === thingName), "a Basic Ingest message from the device");
    expect(msg).toMatchObject({ ruleName: DEV_NAMES.telemetryStoreRule, topic: `devices/${thingName}/telemetry` });
    const json = JSON.parse(msg.payload.toString("utf8"));
    expect(json).toMatchObject({ thingName, ts: expect.any(String) });
    expect(env.observer.on(`devices/${thingName}/telemetry`)).toEqual([]);
    expect(json.metrics).toMatchObject({
      uptimeSeconds: expect.any(Number),
      load1: expect.any(Number),
      memTotalBytes: expect.any(Number),
      memAvailableBytes: expect.any(Number),
    });
  });

  it("GIVEN the device connected THEN the endpoint's lifecycle event names its thing as client id and its certificate as principal", () => {
    expect(env.lifecycle).toContainEqual(expect.objectContaining({ eventType: "connected", clientId: thingName, principalIdentifier: certificateId }));
  });

  it("fails to read or write another device's topics WHEN another thing or the claim certificate tries (the device and claim policies)", async () => {
    // GIVEN another thing and the claim identity trying to listen on this device's topics
    const intruder = await env.connectThing("intruder0001");
    const claim = await env.connectAs(CLAIM_IDENTITY, "provision-snoop");
    const overheard: string[] = [];
    intruder.onMessage((topic) => overheard.push(topic));
    claim.onMessage((topic) => overheard.push(topic));
    await expect(intruder.subscribe([`devices/${thingName}/commands`, "devices/+/responses"])).rejects.toThrow(/subscription refused/);
    await expect(claim.subscribe(["devices/+/commands"])).rejects.toThrow(/subscription refused/);

    // WHEN a command goes to the device and the device answers
    const id = await send((id: string) => ({ id, command: "ping" }));
    await env.observer.waitForMessage(`devices/${thingName}/responses`, (m) => m.json?.id === id);

    // THEN nobody else received anything, and publishing as the device or as the controller is refused
    expect(overheard).toEqual([]);
    await expect(intruder.publish(`devices/${thingName}/responses`, "{}")).rejects.toThrow(/reason code 135/);
    await expect(claim.publish(`devices/${thingName}/commands`, "{}")).rejects.toThrow(/reason code 135/);
  });
});
