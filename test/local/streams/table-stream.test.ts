/**
 * The twin's emulation of a table's DynamoDB stream (dynalite has none), watched by Scan: records as
 * DynamoDB writes them (any key schema, the StreamViewType's images), redelivery of failed records by the
 * event source mapping, and the real revoker driven through it end to end.
 */
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import { PutItemCommand } from "@aws-sdk/client-dynamodb";
import { FAKE_AWS_ENV } from "../../../local/dynamo";
import { IotControlPlane } from "../../../local/iot-core/control-plane";
import { EventSourceMapping, type MappingSettings } from "../../../local/streams/event-source-mapping";
import { TableStream } from "../../../local/streams/table-stream";
import { createSynthesizedTable } from "../../../local/twin-rules";
import { REVOCATION_STREAM_FILTERS, REVOKE_CERTIFICATES } from "../../../functions/revoke-certificates/contract";
import { startDynalite, type RunningDynalite } from "../../support/dynalite";
import { clearTable, loadWith, putItem, registeredDevice } from "../../functions/helpers";
import { PlaneFixture, names, provisionDevice, startPlane } from "../iot-core/identity-fixture";

const WHERE = { region: "eu-west-1", accountId: "123456789012" };
const SETTINGS: MappingSettings = {
  functionName: "consumer",
  startingPosition: "TRIM_HORIZON",
  batchSize: 10,
  batchingWindowSeconds: 0,
  filterPatterns: [],
  reportBatchItemFailures: true,
  bisectOnError: false,
  maximumRetryAttempts: -1,
  maximumRecordAgeSeconds: -1,
};

/** A watched stream of the registry and a mapping on it, both stepped by hand. */
async function registryStream(db: RunningDynalite, consumer: (event: DynamoDBStreamEvent) => Promise<unknown>, settings: Partial<MappingSettings> = {}) {
  const stream = new TableStream({ tableName: db.registryTableName, hashKey: "serialNumber", streamViewType: "NEW_AND_OLD_IMAGES" }, WHERE);
  await stream.watch(db.client, 3_600_000);
  const mapping = new EventSourceMapping({ mapping: { ...SETTINGS, ...settings }, stream, invoke: consumer, onFailure: () => undefined, functionArn: "arn" });
  return {
    stream,
    /** One Scan, then one delivery (what the twin's timers do). */
    poll: async () => {
      await stream.pollNow();
      await mapping.poll();
    },
    close: () => stream.close(),
  };
}

jest.setTimeout(60_000);

describe("TableStream watched by Scan, read by a mapping", () => {
  let db: RunningDynalite;
  let stream: Awaited<ReturnType<typeof registryStream>> | undefined;
  let batches: DynamoDBRecord[][];
  let answer: (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse>;

  beforeAll(async () => {
    db = await startDynalite();
  });
  afterAll(async () => db?.stop());
  beforeEach(async () => {
    await clearTable(db.client, db.registryTableName, "serialNumber");
    batches = [];
    answer = async () => ({ batchItemFailures: [] });
    // A long interval: the tests poll by hand.
    stream = await registryStream(db, (event) => {
      batches.push(event.Records);
      return answer(event);
    });
  });
  afterEach(async () => stream?.close());

  const seed = (serial: string, overrides: Record<string, unknown> = {}) => putItem(db.client, db.registryTableName, registeredDevice(serial, overrides));
  const image = (r: DynamoDBRecord, which: "OldImage" | "NewImage") => (r.dynamodb?.[which] ? unmarshall(r.dynamodb[which] as never) : undefined);

  test("GIVEN a new row WHEN polled THEN one INSERT record with the new image only", async () => {
    await seed("STREAM-0001");

    await stream!.poll();

    expect(batches).toHaveLength(1);
    expect(batches[0].map((r) => r.eventName)).toEqual(["INSERT"]);
    expect(image(batches[0][0], "NewImage")).toMatchObject({ serialNumber: "STREAM-0001", status: "REGISTERED" });
    expect(batches[0][0].dynamodb?.OldImage).toBeUndefined();
  });

  test("GIVEN a row that changed WHEN polled THEN a MODIFY record carries the old and the new image", async () => {
    await seed("STREAM-0002");
    await stream!.poll();
    await seed("STREAM-0002", { status: "REVOKED" });

    await stream!.poll();

    const [modify] = batches[1];
    expect(modify.eventName).toBe("MODIFY");
    expect([image(modify, "OldImage")?.status, image(modify, "NewImage")?.status]).toEqual(["REGISTERED", "REVOKED"]);
  });

  test("GIVEN nothing changed WHEN polled THEN the consumer is not invoked", async () => {
    await seed("STREAM-0003");
    await stream!.poll();

    await stream!.poll();

    expect(batches).toHaveLength(1);
  });

  test("GIVEN the consumer reports a record failed WHEN polled again THEN that record is delivered again", async () => {
    await seed("STREAM-0004");
    answer = async (event) => ({ batchItemFailures: [{ itemIdentifier: event.Records[0].dynamodb!.SequenceNumber! }] });
    await stream!.poll();
    answer = async () => ({ batchItemFailures: [] });

    await stream!.poll();

    expect(batches.map((b) => b.map((r) => image(r, "NewImage")?.serialNumber))).toEqual([["STREAM-0004"], ["STREAM-0004"]]);
  });

  test("GIVEN a table with a sort key and a NEW_IMAGE stream WHEN items are put THEN each is its own INSERT with both keys and no old image", async () => {
    const table = { tableName: "twin-sorted", hashKey: "thingName", rangeKey: "ts", attributes: { thingName: "S", ts: "N" } };
    await createSynthesizedTable(db.client, table);
    const sorted = new TableStream({ ...table, streamViewType: "NEW_IMAGE" }, WHERE);
    await sorted.watch(db.client, 3_600_000);
    try {
      for (const ts of ["1", "2"])
        await db.client.send(new PutItemCommand({ TableName: table.tableName, Item: { thingName: { S: "pi-1" }, ts: { N: ts }, v: { N: "7" } } }));
      await db.client.send(new PutItemCommand({ TableName: table.tableName, Item: { thingName: { S: "pi-1" }, ts: { N: "1" }, v: { N: "8" } } }));

      await sorted.pollNow();

      const records = sorted.read(0).map((e) => e.record);
      expect(records.map((r) => [r.eventName, r.dynamodb?.Keys])).toEqual([
        ["INSERT", { thingName: { S: "pi-1" }, ts: { N: "1" } }],
        ["INSERT", { thingName: { S: "pi-1" }, ts: { N: "2" } }],
      ]);
      expect(records.every((r) => r.dynamodb?.OldImage === undefined && r.dynamodb?.StreamViewType === "NEW_IMAGE")).toBe(true);
      expect(Number(records[1]!.dynamodb!.SequenceNumber)).toBeGreaterThan(Number(records[0]!.dynamodb!.SequenceNumber));
      expect(records[0]!.eventSourceARN).toMatch(/^arn:aws:dynamodb:eu-west-1:123456789012:table\/twin-sorted\/stream\//);
    } finally {
      await sorted.close();
    }
  });

  test("GIVEN the consumer throws WHEN polled again THEN the whole batch is delivered again", async () => {
    await seed("STREAM-0005");
    answer = async () => {
      throw new Error("throttled");
    };
    await stream!.poll();
    answer = async () => ({ batchItemFailures: [] });

    await stream!.poll();

    expect(batches).toHaveLength(2);
    expect(batches[1][0].eventName).toBe("INSERT");
  });
});

describe("the registry's stream driving the real certificate revoker through its synthesized filters", () => {
  let db: RunningDynalite;
  let f: PlaneFixture;
  let cp: IotControlPlane;

  beforeAll(async () => {
    db = await startDynalite();
    f = await startPlane();
    cp = await IotControlPlane.start({ registry: f.plane.registry });
  });
  afterAll(async () => {
    await cp?.close();
    await db?.stop();
    f?.close();
  });

  test("GIVEN a provisioned device WHEN its row becomes REVOKED THEN after one poll its certificate is REVOKED in IoT", async () => {
    const { handler } = loadWith<{ handler: (e: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse> }>("../../functions/revoke-certificates", {
      ...FAKE_AWS_ENV,
      AWS_REGION: f.plane.registry.arn("").split(":")[3],
      AWS_ENDPOINT_URL_IOT: cp.endpoint,
      [REVOKE_CERTIFICATES.env.registryTableName]: db.registryTableName,
      [REVOKE_CERTIFICATES.env.namePrefix]: names.namePattern.replace(/-\*$/, ""),
      LOG_LEVEL: "silent",
    }).mod;
    const serial = "STREAM-E2E-1";
    const certificateId = await provisionDevice(f, serial);
    await putItem(db.client, db.registryTableName, registeredDevice(serial, { status: "PROVISIONED", certificateId }));
    const invoked: DynamoDBStreamEvent[] = [];
    const stream = await registryStream(db, (e) => (invoked.push(e), handler(e)), { filterPatterns: REVOCATION_STREAM_FILTERS });
    try {
      await putItem(db.client, db.registryTableName, registeredDevice(`${serial}-OTHER`, { status: "PROVISIONED" }));
      await putItem(db.client, db.registryTableName, registeredDevice(serial, { status: "REVOKED", certificateId }));

      await stream.poll();

      // The filters let only the revocation through.
      expect(invoked.flatMap((e) => e.Records.map((r) => r.dynamodb?.Keys?.serialNumber?.S))).toEqual([serial]);
      expect(f.plane.registry.requireCertificate(certificateId).status).toBe("REVOKED");
      expect(f.plane.registry.thingPrincipals(serial)).toEqual([]);
    } finally {
      await stream.close();
    }
  });
});
