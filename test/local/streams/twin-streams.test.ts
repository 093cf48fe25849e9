/**
 * The twin's stream wiring: each synthesized mapping on a hosted function reads its table's emulated
 * stream and invokes the twin's handler; a given-up batch lands in the twin's on-failure queues (where
 * the async invocations' records go); a mapping on a function the twin does not run is skipped, noted.
 */
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { DynamoDBStreamEvent } from "aws-lambda";
import { AsyncFailureQueues } from "../../../local/async-failures";
import type { FunctionName, LocalFunctions } from "../../../local/functions";
import type { StreamOnFailureRecord } from "../../../local/streams/event-source-mapping";
import type { SynthesizedStreamMapping } from "../../../local/streams/synthesized-mappings";
import { TwinStreams } from "../../../local/streams/twin-streams";

const HOT: SynthesizedStreamMapping = {
  key: "telemetry/consumer",
  tableName: "shf-dev-telemetry",
  hashKey: "thingName",
  rangeKey: "ts",
  streamViewType: "NEW_IMAGE",
  functionName: "shf-dev-telemetry-broadcast",
  enabled: true,
  startingPosition: "TRIM_HORIZON",
  batchSize: 1000,
  batchingWindowSeconds: 5,
  filterPatterns: ['{"eventName":["INSERT"]}'],
  reportBatchItemFailures: true,
  bisectOnError: true,
  maximumRetryAttempts: 1,
  maximumRecordAgeSeconds: 3600,
  onFailureQueue: "shf-dev-telemetry-stream-failures",
};

test("GIVEN the hot-table mapping and one on a function the twin does not run WHEN readings are tapped and one is poison THEN the handler gets the others, the poison's batch info is in the on-failure queue, the other mapping is noted and skipped", async () => {
  const invoked: [FunctionName, string[]][] = [];
  const asyncFailures = new AsyncFailureQueues();
  const functions = {
    asyncFailures,
    invoke: async (handler: FunctionName, event: DynamoDBStreamEvent) => {
      const things = event.Records.map((r) => `${r.dynamodb?.Keys?.thingName?.S}@${r.dynamodb?.Keys?.ts?.N}`);
      invoked.push([handler, things]);
      if (things.includes("pi-2@2")) throw new Error("poison");
      return { batchItemFailures: [] };
    },
  } as unknown as LocalFunctions;
  const notes: string[] = [];
  const streams = await TwinStreams.start({
    mappings: [HOT, { ...HOT, key: "other/mapping", tableName: "shf-dev-other", functionName: "shf-dev-not-run" }],
    dynamodb: {} as DynamoDBClient,
    functions,
    hosted: { "shf-dev-telemetry-broadcast": "telemetry-broadcast" },
    tapped: new Set(["shf-dev-telemetry", "shf-dev-other"]),
    region: "eu-west-1",
    accountId: "123456789012",
    pollIntervalMs: 3_600_000,
    note: (text) => void notes.push(text),
  });
  try {
    expect(streams.isTapped("shf-dev-telemetry")).toBe(true);
    expect(streams.isTapped("shf-dev-other")).toBe(false); // no mapping reads it: no stream
    expect(notes.some((n) => n.includes("other/mapping") && n.includes("shf-dev-not-run is not run by the twin"))).toBe(true);
    for (const [thing, ts] of [
      ["pi-1", 1],
      ["pi-2", 2],
      ["pi-3", 3],
    ] as const) {
      streams.tap("shf-dev-telemetry", undefined, { thingName: { S: thing }, ts: { N: String(ts) } });
    }

    await streams.drain();

    expect(invoked.map(([h]) => h).every((h) => h === "telemetry-broadcast")).toBe(true);
    expect(invoked[0]![1]).toEqual(["pi-1@1", "pi-2@2", "pi-3@3"]);
    expect(invoked.flatMap(([, things]) => things).filter((t) => t !== "pi-2@2")).toEqual(expect.arrayContaining(["pi-1@1", "pi-3@3"]));
    const [failure] = asyncFailures.messages(HOT.onFailureQueue!) as StreamOnFailureRecord[];
    expect(failure).toMatchObject({
      requestContext: { condition: "RetryAttemptsExhausted", functionArn: "arn:aws:lambda:eu-west-1:123456789012:function:shf-dev-telemetry-broadcast" },
      DDBStreamBatchInfo: { batchSize: 1, streamArn: streams.stream("shf-dev-telemetry")!.streamArn },
    });
    expect(asyncFailures.messages(HOT.onFailureQueue!)).toHaveLength(1);
  } finally {
    await streams.close();
  }
});

test("GIVEN a disabled mapping THEN it is not started and its table gets no stream", async () => {
  const notes: string[] = [];
  const streams = await TwinStreams.start({
    mappings: [{ ...HOT, enabled: false }],
    dynamodb: {} as DynamoDBClient,
    functions: {} as LocalFunctions,
    hosted: { "shf-dev-telemetry-broadcast": "telemetry-broadcast" },
    tapped: new Set(["shf-dev-telemetry"]),
    region: "eu-west-1",
    accountId: "123456789012",
    note: (text) => void notes.push(text),
  });

  expect(streams.stream("shf-dev-telemetry")).toBeUndefined();
  expect(notes).toEqual(["telemetry/consumer: disabled; its stream is not read"]);
  await streams.close();
});
