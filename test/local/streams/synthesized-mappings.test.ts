/**
 * Reading `aws_lambda_event_source_mapping`s on DynamoDB streams from synthesized Terraform: the design's
 * hot-table consumer (a test-only mapping, as pipeline-stack will synthesize it) with every setting, AWS's
 * defaults, and what the twin refuses at start. Then the tapped path: the rules engine's DynamoDBv2 write
 * on the hot table reaching a mapping as INSERT, without any Scan.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { DynamoDBRecord } from "aws-lambda";
import { FAKE_AWS_ENV, startDynalite, type DynaliteServer } from "../../../local/dynamo";
import { TwinRuleTargets } from "../../../local/rules/actions";
import type { LocalFirehose } from "../../../local/rules/firehose";
import { EventSourceMapping } from "../../../local/streams/event-source-mapping";
import { streamMappingsOfStack } from "../../../local/streams/synthesized-mappings";
import { TableStream } from "../../../local/streams/table-stream";
import { createSynthesizedTable } from "../../../local/twin-rules";

const resolve = (value: unknown, what: string): string => {
  if (typeof value !== "string" || value.includes("${")) throw new Error(`${what} unresolvable`);
  return value;
};

/** The design's hot-table stream consumer, as the `telemetry` stack synthesizes it. */
function telemetryStack(mapping: Record<string, unknown> = {}, table: Record<string, unknown> = {}) {
  return {
    aws_dynamodb_table: {
      hot: {
        name: "shf-dev-telemetry",
        hash_key: "thingName",
        range_key: "ts",
        attribute: [
          { name: "thingName", type: "S" },
          { name: "ts", type: "N" },
        ],
        stream_enabled: true,
        stream_view_type: "NEW_IMAGE",
        ...table,
      },
    },
    aws_lambda_function: { broadcast: { function_name: "shf-dev-telemetry-broadcast" } },
    aws_sqs_queue: { failures: { name: "shf-dev-telemetry-stream-failures" } },
    aws_lambda_event_source_mapping: {
      consumer: {
        event_source_arn: "${aws_dynamodb_table.hot.stream_arn}",
        function_name: "${aws_lambda_function.broadcast.arn}",
        starting_position: "LATEST",
        batch_size: 1000,
        maximum_batching_window_in_seconds: 5,
        maximum_retry_attempts: 5,
        maximum_record_age_in_seconds: 3600,
        parallelization_factor: 1,
        bisect_batch_on_function_error: true,
        function_response_types: ["ReportBatchItemFailures"],
        filter_criteria: { filter: [{ pattern: '{"eventName":["INSERT"]}' }] },
        destination_config: { on_failure: { destination_arn: "${aws_sqs_queue.failures.arn}" } },
        ...mapping,
      },
    },
  };
}

test("GIVEN the hot table's consumer mapping WHEN read THEN every setting, the table's keys and view type, the function's and queue's names", () => {
  expect(streamMappingsOfStack("telemetry", telemetryStack(), resolve)).toEqual([
    {
      key: "telemetry/consumer",
      tableName: "shf-dev-telemetry",
      hashKey: "thingName",
      rangeKey: "ts",
      streamViewType: "NEW_IMAGE",
      functionName: "shf-dev-telemetry-broadcast",
      enabled: true,
      startingPosition: "LATEST",
      batchSize: 1000,
      batchingWindowSeconds: 5,
      filterPatterns: ['{"eventName":["INSERT"]}'],
      reportBatchItemFailures: true,
      bisectOnError: true,
      maximumRetryAttempts: 5,
      maximumRecordAgeSeconds: 3600,
      onFailureQueue: "shf-dev-telemetry-stream-failures",
    },
  ]);
});

test("GIVEN a mapping with only its source and function (blocks as cdktf arrays) THEN Lambda's defaults", () => {
  const minimal = telemetryStack({
    batch_size: undefined,
    maximum_batching_window_in_seconds: undefined,
    maximum_retry_attempts: undefined,
    maximum_record_age_in_seconds: undefined,
    bisect_batch_on_function_error: undefined,
    function_response_types: undefined,
    starting_position: "TRIM_HORIZON",
    filter_criteria: [{ filter: [{ pattern: '{"eventName":["INSERT","MODIFY"]}' }] }],
    destination_config: undefined,
  });

  expect(streamMappingsOfStack("telemetry", minimal, resolve)[0]).toMatchObject({
    batchSize: 100,
    batchingWindowSeconds: 0,
    maximumRetryAttempts: -1,
    maximumRecordAgeSeconds: -1,
    bisectOnError: false,
    reportBatchItemFailures: false,
    startingPosition: "TRIM_HORIZON",
    filterPatterns: ['{"eventName":["INSERT","MODIFY"]}'],
    onFailureQueue: undefined,
  });
});

test("GIVEN an SQS or Kinesis source THEN it is not a table stream and is skipped", () => {
  expect(streamMappingsOfStack("x", telemetryStack({ event_source_arn: "${aws_sqs_queue.failures.arn}" }), resolve)).toEqual([]);
});

test.each([
  [
    "a filter outside the subset",
    { filter_criteria: { filter: [{ pattern: '{"eventName":[{"prefix":"IN"}]}' }] } },
    {},
    /telemetry: aws_lambda_event_source_mapping.consumer: .*prefix/,
  ],
  ["a tumbling window", { tumbling_window_in_seconds: 60 }, {}, /tumbling/],
  ["an SNS on-failure destination", { destination_config: { on_failure: { destination_arn: "arn:aws:sns:eu-west-1:1:t" } } }, {}, /not an SQS queue/],
  ["a table without a stream", {}, { stream_enabled: false }, /has no stream/],
])("GIVEN %s THEN reading the stacks fails, naming the mapping", (_what, mapping, table, message) => {
  expect(() => streamMappingsOfStack("telemetry", telemetryStack(mapping, table), resolve)).toThrow(message);
});

describe("a tapped table: the rules engine's DynamoDBv2 writes reach the mapping", () => {
  let db: DynaliteServer;
  let client: DynamoDBClient;
  beforeAll(async () => {
    db = await startDynalite({ region: FAKE_AWS_ENV.AWS_REGION });
    client = db.client;
    await createSynthesizedTable(client, { tableName: "shf-dev-telemetry", hashKey: "thingName", rangeKey: "ts", attributes: { thingName: "S", ts: "N" } });
  });
  afterAll(async () => db?.close());

  test("GIVEN the hot table tapped WHEN the store rule puts two readings and one again THEN INSERT, INSERT, MODIFY with the new images, and the INSERT-only mapping sends the two INSERTs", async () => {
    const [m] = streamMappingsOfStack("telemetry", telemetryStack({ maximum_batching_window_in_seconds: 0 }), resolve);
    const stream = new TableStream(m!, { region: "eu-west-1", accountId: "123456789012" });
    const sent: DynamoDBRecord[] = [];
    const onStream: string[] = [];
    stream.on("appended", (e) =>
      onStream.push(`${e.record.eventName} ${e.record.dynamodb?.OldImage ? "old" : "-"} ${e.record.dynamodb?.NewImage ? "new" : "-"}`),
    );
    const mapping = new EventSourceMapping({
      mapping: m!,
      stream,
      functionArn: "arn",
      invoke: async (e) => void sent.push(...e.Records),
      onFailure: () => undefined,
    });
    const targets = new TwinRuleTargets({
      dynamodb: client,
      firehose: {} as LocalFirehose,
      logDir: "/nonexistent",
      logGroups: new Set(),
      invokeLambda: () => undefined,
      streams: { isTapped: (t) => t === m!.tableName, tap: (_t, before, after) => stream.tap(before, after) },
    });

    await targets.putItem(m!.tableName, { thingName: "pi-1", ts: 1, metrics: { co2_ppm: 700 } });
    await targets.putItem(m!.tableName, { thingName: "pi-1", ts: 2, metrics: { co2_ppm: 710 } });
    await targets.putItem(m!.tableName, { thingName: "pi-1", ts: 1, metrics: { co2_ppm: 701 } });
    await mapping.drain();

    // NEW_IMAGE: the MODIFY known from PutItem's ALL_OLD answer carries no old image.
    expect(onStream).toEqual(["INSERT - new", "INSERT - new", "MODIFY - new"]);
    expect(stream.read(0)).toEqual([]); // all read, so dropped
    expect(sent.map((r) => [r.eventName, r.dynamodb?.Keys?.ts?.N, r.dynamodb?.NewImage?.metrics?.M?.co2_ppm?.N, r.dynamodb?.OldImage])).toEqual([
      ["INSERT", "1", "700", undefined],
      ["INSERT", "2", "710", undefined],
    ]);
  });
});
