/**
 * The twin's event source mapping on an emulated DynamoDB stream: Lambda's filter criteria, batch size
 * and batching window, ReportBatchItemFailures, bisect on error, retries and record age, then the
 * on-failure record. In memory: records are appended to the stream as a tapped writer does.
 */
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";
import { EventSourceMapping, type MappingSettings, type StreamOnFailureRecord } from "../../../local/streams/event-source-mapping";
import { TableStream } from "../../../local/streams/table-stream";

const WHERE = { region: "eu-west-1", accountId: "123456789012" };
const BASE: MappingSettings = {
  functionName: "shf-dev-telemetry-broadcast",
  startingPosition: "TRIM_HORIZON",
  batchSize: 1000,
  batchingWindowSeconds: 0,
  filterPatterns: [],
  reportBatchItemFailures: true,
  bisectOnError: true,
  maximumRetryAttempts: 5,
  maximumRecordAgeSeconds: 3600,
};

function setup(settings: Partial<MappingSettings>, answer: (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse | void>) {
  let now = 1_000_000;
  const stream = new TableStream(
    { tableName: "shf-dev-telemetry", hashKey: "thingName", rangeKey: "ts", streamViewType: "NEW_IMAGE" },
    { ...WHERE, now: () => now },
  );
  const batches: DynamoDBRecord[][] = [];
  const failures: StreamOnFailureRecord[] = [];
  const mapping = new EventSourceMapping({
    mapping: { ...BASE, ...settings },
    stream,
    functionArn: "arn:aws:lambda:eu-west-1:123456789012:function:shf-dev-telemetry-broadcast",
    now: () => now,
    invoke: async (event) => {
      batches.push(event.Records);
      return answer(event);
    },
    onFailure: (queue, record) => {
      expect(queue).toBe("dlq");
      failures.push(record);
    },
  });
  const reading = (thing: string, ts: number) =>
    stream.tap(undefined, { thingName: { S: thing }, ts: { N: String(ts) }, metrics: { M: { co2_ppm: { N: "500" } } } });
  const things = (records: DynamoDBRecord[]) => records.map((r) => `${r.dynamodb?.Keys?.thingName?.S}@${r.dynamodb?.Keys?.ts?.N}`);
  return { stream, mapping, batches, failures, reading, things, advance: (ms: number) => (now += ms) };
}

const ok = async () => ({ batchItemFailures: [] });

test("GIVEN the INSERT filter WHEN an INSERT, a MODIFY and a REMOVE are on the stream THEN only the INSERT is sent and the others are checkpointed", async () => {
  const t = setup({ filterPatterns: ['{"eventName":["INSERT"]}'] }, ok);
  const item = { thingName: { S: "pi-1" }, ts: { N: "1" } };
  t.stream.append(undefined, item);
  t.stream.append(item, { ...item, v: { N: "2" } });
  t.stream.append(item, undefined);

  await t.mapping.drain();

  expect(t.batches.map((b) => b.map((r) => r.eventName))).toEqual([["INSERT"]]);
  await t.mapping.drain();
  expect(t.batches).toHaveLength(1);
  // Every reader is past the records: the shard keeps none of them.
  expect(t.stream.read(0)).toEqual([]);
});

test("GIVEN a batching window WHEN fewer records than the batch size wait THEN nothing is sent before the window ends, all of them in one batch after", async () => {
  const t = setup({ batchingWindowSeconds: 5 }, ok);
  for (let i = 1; i <= 3; i++) t.reading("pi-1", i);

  t.advance(4_999);
  await t.mapping.poll();
  expect(t.batches).toEqual([]);

  t.advance(1);
  await t.mapping.poll();
  expect(t.batches.map(t.things)).toEqual([["pi-1@1", "pi-1@2", "pi-1@3"]]);
});

test("GIVEN a batching window WHEN the batch size is reached THEN the batch goes at once and the rest waits", async () => {
  const t = setup({ batchingWindowSeconds: 5, batchSize: 2 }, ok);
  for (let i = 1; i <= 3; i++) t.reading("pi-1", i);

  await t.mapping.poll();
  await t.mapping.poll();

  expect(t.batches.map(t.things)).toEqual([["pi-1@1", "pi-1@2"]]);
});

test("GIVEN the consumer reports the 3rd of 5 records failed WHEN retried THEN the retry starts at that record, the earlier ones are not sent again", async () => {
  let calls = 0;
  const t = setup({}, async (event) =>
    ++calls === 1 ? { batchItemFailures: [{ itemIdentifier: event.Records[2]!.dynamodb!.SequenceNumber! }] } : { batchItemFailures: [] },
  );
  for (let i = 1; i <= 5; i++) t.reading("pi-1", i);

  await t.mapping.drain();

  expect(t.batches.map(t.things)).toEqual([
    ["pi-1@1", "pi-1@2", "pi-1@3", "pi-1@4", "pi-1@5"],
    ["pi-1@3", "pi-1@4", "pi-1@5"],
  ]);
  expect(t.failures).toEqual([]);
});

test("GIVEN an itemIdentifier that is not in the batch WHEN answered THEN the whole batch is retried", async () => {
  let calls = 0;
  const t = setup({}, async () => (++calls === 1 ? { batchItemFailures: [{ itemIdentifier: "not-a-sequence-number" }] } : { batchItemFailures: [] }));
  for (let i = 1; i <= 2; i++) t.reading("pi-1", i);

  await t.mapping.drain();

  expect(t.batches.map(t.things)).toEqual([
    ["pi-1@1", "pi-1@2"],
    ["pi-1@1", "pi-1@2"],
  ]);
});

test("GIVEN a poison record among 4 WHEN the function throws on it THEN the batch is bisected down to it, it is retried then described to the on-failure queue, and the others are delivered", async () => {
  const t = setup({ maximumRetryAttempts: 2, onFailureQueue: "dlq" }, async (event) => {
    if (event.Records.some((r) => r.dynamodb?.Keys?.ts?.N === "3")) throw new Error("poison");
    return { batchItemFailures: [] };
  });
  for (let i = 1; i <= 4; i++) t.reading("pi-1", i);
  const poison = t.stream.read(0)[2]!.record.dynamodb!.SequenceNumber!;

  await t.mapping.drain();

  expect(t.batches.map(t.things)).toEqual([
    ["pi-1@1", "pi-1@2", "pi-1@3", "pi-1@4"],
    ["pi-1@1", "pi-1@2"],
    ["pi-1@3", "pi-1@4"],
    ["pi-1@3"],
    ["pi-1@3"],
    ["pi-1@3"],
    ["pi-1@4"],
  ]);
  expect(t.failures).toHaveLength(1);
  expect(t.failures[0]).toMatchObject({
    requestContext: { condition: "RetryAttemptsExhausted", approximateInvokeCount: 3 },
    DDBStreamBatchInfo: { startSequenceNumber: poison, endSequenceNumber: poison, batchSize: 1, streamArn: t.stream.streamArn },
  });
  // Later records still flow.
  t.reading("pi-1", 5);
  await t.mapping.drain();
  expect(t.things(t.batches.at(-1)!)).toEqual(["pi-1@5"]);
});

test("GIVEN a failing batch WHEN its records grow older than the maximum record age THEN they are given up as RecordAgeExceeded without another invocation", async () => {
  const t = setup({ maximumRetryAttempts: -1, bisectOnError: false, maximumRecordAgeSeconds: 60, onFailureQueue: "dlq" }, async () => {
    throw new Error("down");
  });
  t.reading("pi-1", 1);
  await t.mapping.poll();
  await t.mapping.poll();
  expect(t.batches).toHaveLength(2);

  t.advance(60_001);
  await t.mapping.poll();

  expect(t.batches).toHaveLength(2);
  expect(t.failures.map((f) => [f.requestContext.condition, f.DDBStreamBatchInfo.batchSize])).toEqual([["RecordAgeExceeded", 1]]);
});

test("GIVEN no on-failure destination WHEN retries are exhausted THEN the records are dropped and the shard moves on", async () => {
  let fail = true;
  const t = setup({ maximumRetryAttempts: 0, bisectOnError: false }, async () => {
    if (fail) throw new Error("down");
    return { batchItemFailures: [] };
  });
  t.reading("pi-1", 1);
  await t.mapping.poll();
  fail = false;
  t.reading("pi-1", 2);

  await t.mapping.drain();

  expect(t.batches.map(t.things)).toEqual([["pi-1@1"], ["pi-1@2"]]);
});

test("GIVEN LATEST WHEN the mapping starts after records were written THEN it reads only later ones", async () => {
  let now = 0;
  const stream = new TableStream({ tableName: "t", hashKey: "k", streamViewType: "KEYS_ONLY" }, { ...WHERE, now: () => now });
  stream.tap(undefined, { k: { S: "before" } });
  const sent: DynamoDBRecord[] = [];
  const mapping = new EventSourceMapping({
    mapping: { ...BASE, startingPosition: "LATEST" },
    stream,
    functionArn: "arn",
    invoke: async (e) => void sent.push(...e.Records),
    onFailure: () => undefined,
    now: () => now,
  });
  stream.tap({ k: { S: "after" } }, { k: { S: "after" }, v: { N: "1" } });
  now++;

  await mapping.drain();

  expect(sent.map((r) => [r.eventName, r.dynamodb?.Keys, r.dynamodb?.NewImage, r.dynamodb?.OldImage])).toEqual([
    ["MODIFY", { k: { S: "after" } }, undefined, undefined],
  ]);
});

test("GIVEN unlimited retries and a failing function WHEN drained THEN drain returns after the failed attempt and the batch stays, blocking the shard", async () => {
  let fail = true;
  const t = setup({ maximumRetryAttempts: -1, bisectOnError: false }, async () => {
    if (fail) throw new Error("down");
    return { batchItemFailures: [] };
  });
  t.reading("pi-1", 1);

  await t.mapping.drain();
  t.reading("pi-1", 2);
  await t.mapping.drain();

  expect(t.batches.map(t.things)).toEqual([["pi-1@1"], ["pi-1@1"]]);
  fail = false;
  await t.mapping.drain();
  expect(t.batches.map(t.things).slice(2)).toEqual([["pi-1@1"], ["pi-1@2"]]);
});
