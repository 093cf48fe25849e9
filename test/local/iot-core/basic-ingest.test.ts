/**
 * Basic Ingest on the twin's endpoint, with the synthesized device and twin-service policies and AWS's
 * own MQTT 5 client: a Pi's PUBLISH to `$aws/rules/<store rule>/devices/<thing>/telemetry` is handed to
 * that rule alone (topic without the prefix), never to a subscriber; nobody can subscribe under
 * `$aws/rules/`; a Pi cannot use another thing's or another rule's Basic Ingest topic.
 */
import { parseBasicIngestTopic } from "../../../local/iot-core/basic-ingest";
import { TWIN_SERVICE_IDENTITY } from "../../../local/iot-core/stack-identities";
import { DEV_NAMES, TestEnv, createTestEnv, waitFor } from "../../support/broker";

jest.setTimeout(60_000);

const STORE = DEV_NAMES.telemetryStoreRule;
const basicIngestTopic = (rule: string, thing: string) => `$aws/rules/${rule}/devices/${thing}/telemetry`;
const settle = () => new Promise((r) => setTimeout(r, 500));

let env: TestEnv;

beforeAll(async () => {
  env = await createTestEnv();
});

afterAll(async () => {
  await env?.close();
});

describe("parseBasicIngestTopic", () => {
  test("GIVEN a Basic Ingest topic THEN the rule is the third level and the rule's topic is the rest", () => {
    expect(parseBasicIngestTopic(`$aws/rules/${STORE}/devices/SN-1/telemetry`)).toEqual({ ruleName: STORE, topic: "devices/SN-1/telemetry" });
    expect(parseBasicIngestTopic("$aws/rules/r")).toEqual({ ruleName: "r", topic: "" });
  });

  test("GIVEN anything else THEN it is not Basic Ingest", () => {
    expect(parseBasicIngestTopic("devices/SN-1/telemetry")).toBeUndefined();
    expect(parseBasicIngestTopic("$aws/rules/")).toBeUndefined();
    expect(parseBasicIngestTopic("$aws/things/SN-1/shadow/update")).toBeUndefined();
  });
});

describe("Basic Ingest PUBLISH", () => {
  test("GIVEN a Pi WHEN it publishes on the store rule's Basic Ingest topic THEN the rule gets it without the prefix AND subscribers to devices/+/telemetry get nothing", async () => {
    const watcher = await env.connectAs(TWIN_SERVICE_IDENTITY, `${TWIN_SERVICE_IDENTITY}-bi-watch`);
    const overheard: string[] = [];
    watcher.onMessage((topic) => overheard.push(topic));
    await watcher.subscribe(["devices/+/telemetry", "#", "$aws/things/#"]);
    const pi = await env.connectThing("SNbasic0001");

    await pi.publish(basicIngestTopic(STORE, "SNbasic0001"), { thingName: "SNbasic0001", metrics: { temperature_c: 21 } });

    const got = await waitFor(() => env.basicIngest.find((m) => m.clientId === "SNbasic0001"), "the Basic Ingest message");
    expect(got).toMatchObject({ ruleName: STORE, topic: "devices/SNbasic0001/telemetry" });
    expect(JSON.parse(got.payload.toString("utf8"))).toEqual({ thingName: "SNbasic0001", metrics: { temperature_c: 21 } });
    await settle();
    expect(overheard).toEqual([]);
    expect(env.observer.on("devices/SNbasic0001/telemetry")).toEqual([]);
  });

  test.each([
    ["another thing's Basic Ingest topic", "SNbasic0021", basicIngestTopic(STORE, "SNvictim0001")],
    ["another rule (the errors rule)", "SNbasic0022", basicIngestTopic(DEV_NAMES.errorsRule, "SNbasic0022")],
    ["a rule the app does not define", "SNbasic0023", basicIngestTopic("someone_elses_rule", "SNbasic0023")],
    ["the store rule without the devices/<thing> topic", "SNbasic0024", `$aws/rules/${STORE}/telemetry`],
  ])("fails with PUBACK 0x87 WHEN a Pi publishes on %s", async (_what, thing, topic) => {
    const pi = await env.connectThing(thing);
    const before = env.basicIngest.length;
    await expect(pi.publish(topic, { metrics: { temperature_c: 99 } })).rejects.toThrow("reason code 135");
    await settle();
    expect(env.basicIngest.slice(before)).toEqual([]);
  });
});

describe("SUBSCRIBE under $aws/rules", () => {
  test.each([["$aws/rules/#"], [`$aws/rules/${STORE}/devices/+/telemetry`], ["$aws/rules/+/devices/+/telemetry"]])(
    "fails with SUBACK 0x87 WHEN even the twin-service identity (every topic) subscribes to %s",
    async (filter) => {
      const service = await env.connectAs(TWIN_SERVICE_IDENTITY, `${TWIN_SERVICE_IDENTITY}-bi-sub`);
      await expect(service.subscribe([filter])).rejects.toThrow(`${filter} (135)`);
    },
  );

  test("GIVEN a subscriber to $aws/# WHEN a Pi publishes through Basic Ingest THEN it receives nothing", async () => {
    const service = await env.connectAs(TWIN_SERVICE_IDENTITY, `${TWIN_SERVICE_IDENTITY}-bi-aws`);
    const overheard: string[] = [];
    service.onMessage((topic) => overheard.push(topic));
    await service.subscribe(["$aws/#"]);
    const pi = await env.connectThing("SNbasic0003");
    await pi.publish(basicIngestTopic(STORE, "SNbasic0003"), { metrics: { temperature_c: 20 } });
    await waitFor(() => env.basicIngest.find((m) => m.clientId === "SNbasic0003"), "the Basic Ingest message");
    await settle();
    expect(overheard.filter((t) => t.startsWith("$aws/rules/"))).toEqual([]);
  });
});
