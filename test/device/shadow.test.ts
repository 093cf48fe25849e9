/**
 * The device shadow against the twin's broker and shadow service: the first `reported` state on connect,
 * desired settings applied (also those set while the Pi was away), invalid ones left alone, and another
 * device unable to touch this one's shadow.
 */
import { DeviceAgent } from "../../device/agent";
import { DeviceConfig } from "../../device/config";
import { ThingRecord } from "../../device/provision";
import { ShadowService } from "../../local/shadow-service";
import { TWIN_SERVICE_IDENTITY } from "../../local/iot-core/stack-identities";
import { TestEnv, createTestEnv, memoryLogger, waitFor } from "../support/broker";

jest.setTimeout(60_000);

describe("device shadow", () => {
  let env: TestEnv;
  let shadows: ShadowService;
  const agents: DeviceAgent[] = [];

  async function startDevice(serial: string): Promise<{ agent: DeviceAgent; config: DeviceConfig; thing: ThingRecord }> {
    const { config, thing } = await env.provisionedDevice(serial, { telemetryIntervalSeconds: 60, firmwareVersion: "1.0.0" });
    return { agent: await startAgent(config, thing), config, thing };
  }

  async function startAgent(config: DeviceConfig, thing: ThingRecord): Promise<DeviceAgent> {
    const agent = new DeviceAgent({ config, thing, log: memoryLogger().log }).start();
    agents.push(agent);
    await waitFor(() => agent.ready, "the device to connect");
    return agent;
  }

  beforeAll(async () => {
    env = await createTestEnv();
    shadows = await ShadowService.start(await env.connectAs(TWIN_SERVICE_IDENTITY, `${TWIN_SERVICE_IDENTITY}-shadow`));
  });

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await shadows?.close();
    await env?.close();
  });

  it("GIVEN a newly provisioned Pi WHEN it connects THEN its shadow reports the firmware version and effective settings", async () => {
    const { thing } = await startDevice("shadow01");
    const doc = await waitFor(() => shadows.get(thing.thingName), "the first reported state");
    expect(doc.state.reported).toEqual({ firmwareVersion: "1.0.0", deviceType: "thermostat", telemetryIntervalSeconds: 60 });
    expect(shadows.fieldValues("shadow.reported.firmwareVersion")).toContain("1.0.0");
  });

  it("GIVEN a connected Pi WHEN desired.telemetryIntervalSeconds changes THEN it applies it, reports it, and the delta is gone", async () => {
    // GIVEN
    const { agent, thing } = await startDevice("shadow02");
    await waitFor(() => shadows.get(thing.thingName), "the first report");

    // WHEN
    await shadows.desire(thing.thingName, { telemetryIntervalSeconds: 5 });

    // THEN
    await waitFor(() => shadows.get(thing.thingName)?.state.reported?.telemetryIntervalSeconds === 5, "the new interval reported");
    expect(agent.status().telemetryIntervalSeconds).toBe(5);
    expect(shadows.get(thing.thingName)!.state.delta).toBeUndefined();
  });

  it("GIVEN a setting desired while the Pi was stopped WHEN it starts again THEN it applies it from the shadow's delta and keeps it", async () => {
    // GIVEN
    const { agent, config, thing } = await startDevice("shadow03");
    await waitFor(() => shadows.get(thing.thingName), "the first report");
    await agent.stop();
    await shadows.desire(thing.thingName, { telemetryIntervalSeconds: 30 });

    // WHEN
    const again = await startAgent(config, thing);

    // THEN
    await waitFor(() => again.status().telemetryIntervalSeconds === 30, "the interval applied");
    await waitFor(() => shadows.get(thing.thingName)?.state.delta === undefined, "the delta cleared");
  });

  it("leaves an invalid or unknown desired value alone, so the delta stays visible to the operator", async () => {
    // GIVEN
    const { agent, thing } = await startDevice("shadow04");
    await waitFor(() => shadows.get(thing.thingName), "the first report");

    // WHEN
    await shadows.desire(thing.thingName, { telemetryIntervalSeconds: -5, ledColour: "red" });
    await shadows.desire(thing.thingName, { firmwareVersion: "1.0.0" }); // a valid no-op after the bad ones, as a marker
    await waitFor(
      () =>
        shadows.get(thing.thingName)?.state.delta?.firmwareVersion === undefined && shadows.get(thing.thingName)?.state.desired?.firmwareVersion === "1.0.0",
      "the marker",
    );

    // THEN
    expect(agent.status().telemetryIntervalSeconds).toBe(60);
    expect(shadows.get(thing.thingName)!.state.delta).toEqual({ telemetryIntervalSeconds: -5, ledColour: "red" });
  });

  it("fails to change another Pi's shadow: the device policy refuses the publish", async () => {
    // GIVEN
    const { thing } = await startDevice("shadow05");
    await waitFor(() => shadows.get(thing.thingName), "the first report");
    const intruder = await env.connectThing("shadow99");

    // WHEN
    await intruder.publish(`$aws/things/${thing.thingName}/shadow/update`, { state: { desired: { telemetryIntervalSeconds: 1 } } }).catch(() => undefined);
    await intruder.publish(`$aws/things/shadow99/shadow/update`, { state: { reported: { marker: true } } });
    await waitFor(() => shadows.get("shadow99"), "the intruder's own update");

    // THEN
    expect(shadows.get(thing.thingName)!.state.desired).toBeUndefined();
    await intruder.close();
  });
});
