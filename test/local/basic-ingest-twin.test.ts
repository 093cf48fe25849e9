/**
 * Basic Ingest through the whole twin: a simulated Pi (the real device client, provisioned through the
 * synthesized template) publishes its telemetry to `$aws/rules/<store rule>/devices/<serial>/telemetry`;
 * the reading lands in the hot table through the synthesized store rule, while subscribers to
 * `devices/+/telemetry` (or everything) receive nothing and nobody may subscribe under `$aws/rules/`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { DynamoDBClient, QueryCommand } from "@aws-sdk/client-dynamodb";
import { FAKE_AWS_ENV } from "../../local/dynamo";
import { TWIN_SERVICE_IDENTITY } from "../../local/iot-core/stack-identities";
import { bringUpFleet, serialFor, type FleetUp } from "../../local/scenarios/common";
import { LocalTwin } from "../../local/twin";
import { waitFor } from "../support/broker";
import { scratchDir } from "../support/scratch";

jest.setTimeout(180_000);

const SERIAL = serialFor(1, "b1b1");

let twin: LocalTwin;
let fleet: FleetUp;
let dynamodb: DynamoDBClient;
const overheard: string[] = [];
const stored: string[] = [];
const lines: string[] = [];

beforeAll(async () => {
  twin = await LocalTwin.start({
    workDir: scratchDir("twin-basic-ingest-"),
    functionLogLevel: "silent",
    telemetryIntervalSeconds: 1,
    print: (l) => lines.push(l),
  });
  // GIVEN a listener on the plain telemetry topic and on everything the twin-service identity may read
  const listener = await twin.iot.connect(TWIN_SERVICE_IDENTITY, `${TWIN_SERVICE_IDENTITY}-bi-listener`);
  listener.onMessage((topic) => overheard.push(topic));
  await listener.subscribe(["devices/+/telemetry", "#", "$aws/#"]);
  twin.topicRules.onStoredReading((r) => stored.push(r.thingName));
  fleet = await bringUpFleet(twin, [SERIAL], { concurrency: 1 });
  if (fleet.running.length !== 1) throw new Error(`the Pi did not come up:\n${lines.slice(-30).join("\n")}`);
  dynamodb = new DynamoDBClient({
    endpoint: twin.dynamoEndpoint,
    region: twin.config.region,
    credentials: { accessKeyId: FAKE_AWS_ENV.AWS_ACCESS_KEY_ID!, secretAccessKey: FAKE_AWS_ENV.AWS_SECRET_ACCESS_KEY! },
  });
});

afterAll(async () => {
  dynamodb?.destroy();
  await twin?.stop();
});

test("GIVEN a provisioned Pi THEN RegisterThing told it the store rule (DeviceConfiguration), kept in thing.json", () => {
  const thing = JSON.parse(fs.readFileSync(path.join(fleet.running[0]!.dataDir, "thing.json"), "utf8")) as { deviceConfiguration: Record<string, string> };
  expect(thing.deviceConfiguration).toEqual({ TelemetryRuleName: twin.names.telemetryStoreRule });
});

test("GIVEN the Pi's telemetry through Basic Ingest THEN it lands in the hot table, AND no subscriber received any of it", async () => {
  const rows = await waitFor(
    async () => {
      const got = await dynamodb.send(
        new QueryCommand({
          TableName: twin.names.telemetryTable,
          KeyConditionExpression: "thingName = :t",
          ExpressionAttributeValues: { ":t": { S: SERIAL } },
        }),
      );
      return (got.Items?.length ?? 0) >= 2 ? got.Items : undefined;
    },
    "two readings of the Pi in the hot table",
    30_000,
  );
  expect(rows![0]!.metrics?.M).toBeDefined();
  expect(stored).toContain(SERIAL);
  expect(overheard.filter((t) => t.endsWith("/telemetry") || t.startsWith("$aws/rules/"))).toEqual([]);
});

test("fails with SUBACK 0x87 WHEN anyone subscribes under $aws/rules/ (even the twin-service identity)", async () => {
  const snoop = await twin.iot.connect(TWIN_SERVICE_IDENTITY, `${TWIN_SERVICE_IDENTITY}-bi-snoop`);
  await expect(snoop.subscribe([`$aws/rules/${twin.names.telemetryStoreRule}/#`])).rejects.toThrow("(135)");
  await expect(snoop.subscribe(["$aws/rules/#"])).rejects.toThrow("(135)");
});
