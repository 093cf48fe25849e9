/**
 * The twin's Firehose API stand-in with the real @aws-sdk/client-firehose (what the stream consumer
 * uses): records land in s3rver through LocalFirehose in Firehose's layout; AWS's answers and errors.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { gunzipSync } from "node:zlib";
import { FirehoseClient, PutRecordBatchCommand, PutRecordCommand, ResourceNotFoundException } from "@aws-sdk/client-firehose";
import { GetObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { FAKE_AWS_ENV } from "../../local/dynamo";
import { FirehoseApiServer } from "../../local/firehose-api";
import { LocalFirehose } from "../../local/rules/firehose";
import { startS3Server, type S3Server } from "../../local/s3-server";

jest.setTimeout(60_000);

const STREAM = { name: "shf-dev-telemetry", bucketName: "shf-dev-warm", prefix: "readings/dt=!{timestamp:yyyy-MM-dd}/", compressionFormat: "GZIP" };
let s3: S3Server;
let firehose: LocalFirehose;
let api: FirehoseApiServer;
let client: FirehoseClient;

beforeAll(async () => {
  s3 = await startS3Server({ directory: path.join(mkdtempSync(path.join(tmpdir(), "twin-firehose-api-")), "s3"), buckets: [STREAM.bucketName] });
  firehose = new LocalFirehose({ s3: s3.client, streams: new Map([[STREAM.name, STREAM]]), flushIntervalMs: 0 });
  api = await FirehoseApiServer.start(firehose, { region: "eu-west-1", accountId: "123456789012" });
  client = new FirehoseClient({ endpoint: api.endpoint, region: "eu-west-1", credentials: fakeCredentials(), maxAttempts: 1 });
});
afterAll(async () => {
  client?.destroy();
  await api?.close();
  await firehose?.close();
  await s3?.close();
});

function fakeCredentials() {
  return { accessKeyId: FAKE_AWS_ENV.AWS_ACCESS_KEY_ID, secretAccessKey: FAKE_AWS_ENV.AWS_SECRET_ACCESS_KEY };
}

async function delivered(): Promise<{ key: string; body: string }[]> {
  await firehose.flush();
  const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: STREAM.bucketName }));
  const objects = [];
  for (const o of listed.Contents ?? []) {
    const got = await s3.client.send(new GetObjectCommand({ Bucket: STREAM.bucketName, Key: o.Key! }));
    objects.push({ key: o.Key!, body: gunzipSync(Buffer.from(await got.Body!.transformToByteArray())).toString("utf8") });
  }
  return objects;
}

test("GIVEN two records of several JSON lines WHEN PutRecordBatch THEN AWS's answer, and one GZIP object in Firehose's layout holds every line in order", async () => {
  const lines = ['{"thingName":"pi-1","ts":1}\n{"thingName":"pi-1","ts":2}\n', '{"thingName":"pi-2","ts":3}\n'];

  const answer = await client.send(new PutRecordBatchCommand({ DeliveryStreamName: STREAM.name, Records: lines.map((l) => ({ Data: Buffer.from(l) })) }));

  expect(answer.FailedPutCount).toBe(0);
  expect(answer.Encrypted).toBe(false);
  expect(answer.RequestResponses).toHaveLength(2);
  expect(answer.RequestResponses!.every((r) => typeof r.RecordId === "string" && r.RecordId.length > 0 && r.ErrorCode === undefined)).toBe(true);
  const objects = await delivered();
  expect(objects).toHaveLength(1);
  expect(objects[0]!.key).toMatch(/^readings\/dt=\d{4}-\d{2}-\d{2}\/shf-dev-telemetry-1-\d{4}(-\d{2}){5}-[0-9a-f-]{36}\.gz$/);
  expect(objects[0]!.body).toBe(lines.join(""));
});

test("GIVEN one record WHEN PutRecord THEN a RecordId and the record buffered", async () => {
  const answer = await client.send(new PutRecordCommand({ DeliveryStreamName: STREAM.name, Record: { Data: Buffer.from("single\n") } }));

  expect(answer.RecordId).toEqual(expect.any(String));
  expect(api.accepted.get(STREAM.name)).toBe(3);
});

test("GIVEN a stream that does not exist WHEN PutRecordBatch THEN ResourceNotFoundException (400) and nothing is buffered", async () => {
  const put = client.send(new PutRecordBatchCommand({ DeliveryStreamName: "shf-dev-nope", Records: [{ Data: Buffer.from("x\n") }] }));

  await expect(put).rejects.toBeInstanceOf(ResourceNotFoundException);
  await expect(put).rejects.toMatchObject({ $metadata: { httpStatusCode: 400 }, message: expect.stringContaining("shf-dev-nope") });
  expect(api.accepted.has("shf-dev-nope")).toBe(false);
});

test("GIVEN 501 records WHEN PutRecordBatch THEN a ValidationException and none of them is accepted", async () => {
  const before = api.accepted.get(STREAM.name);
  const records = Array.from({ length: 501 }, (_, i) => ({ Data: Buffer.from(`${i}\n`) }));

  const put = client.send(new PutRecordBatchCommand({ DeliveryStreamName: STREAM.name, Records: records }));

  await expect(put).rejects.toMatchObject({ name: "ValidationException", $metadata: { httpStatusCode: 400 } });
  expect(api.accepted.get(STREAM.name)).toBe(before);
});

test("GIVEN a record over 1,000 KiB or a call over 4 MiB WHEN put THEN rejected; exactly 1,000 KiB is accepted", async () => {
  const kib = (n: number) => Buffer.alloc(n * 1024, 0x61);

  await expect(client.send(new PutRecordBatchCommand({ DeliveryStreamName: STREAM.name, Records: [{ Data: kib(1001) }] }))).rejects.toMatchObject({
    name: "ValidationException",
  });
  await expect(
    client.send(new PutRecordBatchCommand({ DeliveryStreamName: STREAM.name, Records: Array.from({ length: 5 }, () => ({ Data: kib(1000) })) })),
  ).rejects.toMatchObject({ name: "InvalidArgumentException" });
  const ok = await client.send(new PutRecordBatchCommand({ DeliveryStreamName: STREAM.name, Records: [{ Data: kib(1000) }] }));
  expect(ok.FailedPutCount).toBe(0);
});
