/** StreamConsumer's mapping settings: the defaults the revoker relies on, the batching options and their documented ranges. */
import { join } from "node:path";
import { Testing, TerraformStack } from "cdktf";
import { BundledFunction } from "../../modules/bundled-function";
import { StreamConsumer, StreamConsumerProps } from "../../modules/stream-consumer";

const HELLO = join(__dirname, "..", "fixtures", "handlers", "hello", "index.ts");
const TOPIC = { topicName: "shf-dev-alarms", topicArn: "arn:aws:sns:eu-west-1:111111111111:shf-dev-alarms" };
const STREAM = "arn:aws:dynamodb:eu-west-1:111111111111:table/t/stream/2026-11-26T00:00:00.000";

function synth(props: Partial<Omit<StreamConsumerProps, "function" | "streamArn">> = {}) {
  const stack = new TerraformStack(Testing.app(), "test");
  const fn = new BundledFunction(stack, "hello", { entry: HELLO, functionName: "shf-dev-hello", logRetentionDays: 14 });
  new StreamConsumer(stack, "hello-stream", {
    function: fn,
    streamArn: STREAM,
    deadLetterQueueName: "shf-dev-hello-dlq",
    deadLetterAlarmName: "shf-dev-hello-dead-letters",
    topic: TOPIC,
    ...props,
  });
  return JSON.parse(Testing.synth(stack)) as { resource: Record<string, Record<string, any>>; data: Record<string, Record<string, any>> };
}

const mapping = (tf: ReturnType<typeof synth>) => Object.values(tf.resource.aws_lambda_event_source_mapping!)[0]!;

describe("StreamConsumer", () => {
  test("GIVEN no batching options THEN it reads from the oldest record and leaves window, age and parallelization to Lambda's defaults", () => {
    const m = mapping(synth());
    expect(m).toMatchObject({ starting_position: "TRIM_HORIZON", batch_size: 10, maximum_retry_attempts: 10, bisect_batch_on_function_error: true });
    expect(m.maximum_batching_window_in_seconds).toBeUndefined();
    expect(m.maximum_record_age_in_seconds).toBeUndefined();
    expect(m.parallelization_factor).toBeUndefined();
  });

  test("GIVEN batching options THEN the mapping carries them, starting from the latest record", () => {
    const m = mapping(
      synth({
        startingPosition: "LATEST",
        batchSize: 1000,
        batchingWindowSeconds: 5,
        maximumRecordAgeSeconds: 3600,
        parallelizationFactor: 2,
        maximumRetryAttempts: 5,
      }),
    );
    expect(m).toMatchObject({
      starting_position: "LATEST",
      batch_size: 1000,
      maximum_batching_window_in_seconds: 5,
      maximum_record_age_in_seconds: 3600,
      parallelization_factor: 2,
      maximum_retry_attempts: 5,
    });
  });

  test("GIVEN a record age limit THEN the alarm says old records are dead-lettered too", () => {
    const alarm = Object.values(synth({ maximumRecordAgeSeconds: 3600 }).resource.aws_cloudwatch_metric_alarm!)[0]!;
    expect(alarm.alarm_description).toMatch(/after 10 retries or waited over 3600 s/);
  });

  test("GIVEN the function's role THEN it reads the stream (the four stream actions on the stream only) and sends to its own queue", () => {
    const tf = synth();
    const statements = Object.values(tf.data.aws_iam_policy_document!)
      .flatMap((doc) => doc.statement as { actions: string[]; resources?: string[] }[])
      .filter((s) => s.resources !== undefined);
    const stream = statements.find((s) => s.actions.includes("dynamodb:GetRecords"))!;
    expect(stream).toMatchObject({
      actions: ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"],
      resources: [STREAM],
    });
    expect(statements.filter((s) => s.resources!.includes("*"))).toEqual([]);
  });

  test.each([
    ["batchingWindowSeconds is above 300", { batchingWindowSeconds: 301 }, /batchingWindowSeconds must be a whole number from 0 to 300, got 301/],
    ["parallelizationFactor is 0", { parallelizationFactor: 0 }, /parallelizationFactor must be a whole number from 1 to 10, got 0/],
    ["batchSize is above 10000", { batchSize: 10001 }, /batchSize must be a whole number from 1 to 10000/],
    [
      "maximumRecordAgeSeconds is under a minute",
      { maximumRecordAgeSeconds: 59 },
      /maximumRecordAgeSeconds must be -1 or a whole number from 60 to 604800, got 59/,
    ],
    ["maximumRecordAgeSeconds is above a week", { maximumRecordAgeSeconds: 604801 }, /maximumRecordAgeSeconds/],
    ["maximumRetryAttempts is negative", { maximumRetryAttempts: -1 }, /maximumRetryAttempts must be a whole number from 0 to 10000, got -1/],
    ["a filter pattern is not JSON", { filterPatterns: ["{eventName"] }, /filter pattern \{eventName is not JSON/],
  ])("fails when %s, naming the setting", (_name, props, message) => {
    expect(() => synth(props as Partial<StreamConsumerProps>)).toThrow(message);
  });
});
