/**
 * The twin's emulation of the registry's DynamoDB stream (dynalite has none): records as DynamoDB
 * writes them, redelivery of failed records, and the real revoker driven by it end to end.
 */
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import { FAKE_AWS_ENV } from "../../local/dynamo";
import { IotControlPlane } from "../../local/iot-core/control-plane";
import { RegistryStream } from "../../local/registry-stream";
import { REVOKE_CERTIFICATES } from "../../functions/revoke-certificates/contract";
import { startDynalite, type RunningDynalite } from "../support/dynalite";
import { clearTable, loadWith, putItem, registeredDevice } from "../functions/helpers";
import { PlaneFixture, names, provisionDevice, startPlane } from "./iot-core/identity-fixture";

jest.setTimeout(60_000);

describe("RegistryStream", () => {
  let db: RunningDynalite;
  let stream: RegistryStream | undefined;
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
    stream = await RegistryStream.start({
      client: db.client,
      tableName: db.registryTableName,
      intervalMs: 3_600_000,
      consumer: (event) => {
        batches.push(event.Records);
        return answer(event);
      },
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

describe("RegistryStream driving the real certificate revoker", () => {
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
    const stream = await RegistryStream.start({ client: db.client, tableName: db.registryTableName, intervalMs: 3_600_000, consumer: handler });
    try {
      await putItem(db.client, db.registryTableName, registeredDevice(serial, { status: "REVOKED", certificateId }));

      await stream.poll();

      expect(f.plane.registry.requireCertificate(certificateId).status).toBe("REVOKED");
      expect(f.plane.registry.thingPrincipals(serial)).toEqual([]);
    } finally {
      await stream.close();
    }
  });
});
