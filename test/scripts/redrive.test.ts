/**
 * `npm run redrive`: replays Lambda on-failure records from a function's async-failure queue. SQS and
 * Lambda have no local stand-in here, so both are mocked and the exact requests are asserted.
 */
import { mockClient } from "aws-sdk-client-mock";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { DeleteMessageCommand, GetQueueUrlCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { loadConfig } from "../../config";
import { resourceNames } from "../../stacks/shared/naming";
import { onFailureRecord } from "../../local/async-failures";
import { parseRecord, redrive } from "../../scripts/redrive";

const config = loadConfig("dev");
const names = resourceNames(config);
const QUEUE = names.asyncFailureQueue(names.alertHandlerFunction);
const QUEUE_URL = `https://sqs.${config.region}.amazonaws.com/${config.accountId}/${QUEUE}`;
const arnOf = (fn: string) => `arn:aws:lambda:${config.region}:${config.accountId}:function:${fn}`;
const record = (fn: string, event: unknown) =>
  JSON.stringify(
    onFailureRecord({
      requestId: "r-1",
      functionArn: arnOf(fn),
      event,
      attempts: 3,
      errorMessage: "Topic does not exist",
      errorType: "NotFoundException",
      at: new Date(0),
    }),
  );

const sqs = mockClient(SQSClient);
const lambda = mockClient(LambdaClient);
const lines: string[] = [];

beforeEach(() => {
  sqs.reset();
  lambda.reset();
  lines.length = 0;
  sqs.on(GetQueueUrlCommand, { QueueName: QUEUE }).resolves({ QueueUrl: QUEUE_URL });
  sqs.on(DeleteMessageCommand).resolves({});
});

const run = (extra: { dryRun?: boolean; max?: number } = {}) =>
  redrive({
    sqs: new SQSClient({ region: config.region }),
    lambda: new LambdaClient({ region: config.region }),
    queueName: QUEUE,
    log: (l) => void lines.push(l),
    ...extra,
  });

test("GIVEN a failed alert in the queue WHEN redriven THEN the alert handler is invoked asynchronously with the original event, then the message is deleted", async () => {
  const event = { thingName: "10000000c0de0042", code: "DISK_FULL", receivedAt: 1 };
  sqs
    .on(ReceiveMessageCommand)
    .resolvesOnce({ Messages: [{ MessageId: "m1", ReceiptHandle: "h1", Body: record(names.alertHandlerFunction, event) }] })
    .resolves({});
  lambda.on(InvokeCommand).resolves({ StatusCode: 202 });

  expect(await run()).toEqual({ seen: 1, replayed: 1, rejected: 0, failed: 0 });
  const invokes = lambda.commandCalls(InvokeCommand).map((c) => c.args[0].input);
  expect(invokes).toEqual([{ FunctionName: names.alertHandlerFunction, InvocationType: "Event", Payload: Buffer.from(JSON.stringify(event)) }]);
  expect(sqs.commandCalls(DeleteMessageCommand).map((c) => c.args[0].input)).toEqual([{ QueueUrl: QUEUE_URL, ReceiptHandle: "h1" }]);
  expect(sqs.commandCalls(ReceiveMessageCommand)[0]!.args[0].input).toEqual({
    QueueUrl: QUEUE_URL,
    MaxNumberOfMessages: 10,
    VisibilityTimeout: 300,
    WaitTimeSeconds: 1,
  });
});

test("GIVEN a message naming another function (planted or misrouted) WHEN redriven THEN nothing is invoked and it stays in the queue", async () => {
  sqs
    .on(ReceiveMessageCommand)
    .resolvesOnce({ Messages: [{ MessageId: "m2", ReceiptHandle: "h2", Body: record(names.registerDeviceFunction, { serialNumber: "x" }) }] })
    .resolves({});
  expect(await run()).toEqual({ seen: 1, replayed: 0, rejected: 1, failed: 0 });
  expect(lambda.commandCalls(InvokeCommand)).toHaveLength(0);
  expect(sqs.commandCalls(DeleteMessageCommand)).toHaveLength(0);
  expect(lines[0]).toMatch(/this queue belongs to/);
});

test("GIVEN Lambda throttles the replay WHEN redriven THEN the message is kept and the run reports the failure", async () => {
  sqs
    .on(ReceiveMessageCommand)
    .resolvesOnce({ Messages: [{ MessageId: "m3", ReceiptHandle: "h3", Body: record(names.alertHandlerFunction, { code: "X" }) }] })
    .resolves({});
  lambda.on(InvokeCommand).rejects(Object.assign(new Error("Rate exceeded"), { name: "TooManyRequestsException" }));
  expect(await run()).toEqual({ seen: 1, replayed: 0, rejected: 0, failed: 1 });
  expect(sqs.commandCalls(DeleteMessageCommand)).toHaveLength(0);
});

test("GIVEN --dry-run WHEN redriven THEN nothing is invoked or deleted", async () => {
  sqs
    .on(ReceiveMessageCommand)
    .resolvesOnce({ Messages: [{ MessageId: "m4", ReceiptHandle: "h4", Body: record(names.alertHandlerFunction, { code: "X" }) }] })
    .resolves({});
  expect(await run({ dryRun: true })).toEqual({ seen: 1, replayed: 0, rejected: 0, failed: 0 });
  expect(lambda.commandCalls(InvokeCommand)).toHaveLength(0);
  expect(sqs.commandCalls(DeleteMessageCommand)).toHaveLength(0);
});

test("fails when the queue is not an async-failure queue", async () => {
  await expect(redrive({ sqs: new SQSClient({}), lambda: new LambdaClient({}), queueName: names.revokeCertificatesDeadLetterQueue })).rejects.toThrow(
    /not an async-failure queue/,
  );
});

test.each([
  ["not JSON", "{", /not JSON/],
  ["a plain event", JSON.stringify({ code: "X" }), /not a Lambda on-failure record/],
  [
    "a non-Lambda ARN",
    JSON.stringify({ version: "1.0", requestContext: { functionArn: "arn:aws:sns:eu-west-1:111111111111:t" }, requestPayload: {} }),
    /not a Lambda function ARN/,
  ],
])("parseRecord refuses %s", (_what, body, problem) => {
  expect(parseRecord(body, names.alertHandlerFunction)).toEqual({ problem: expect.stringMatching(problem) });
});
