/**
 * `npm run redrive`: replays Lambda on-failure records from a stack's async-failure queue, each to the
 * function it names, if that function's on-failure destination is this queue. SQS and Lambda have no
 * local stand-in here, so both are mocked and the exact requests are asserted.
 */
import { mockClient } from "aws-sdk-client-mock";
import { GetFunctionEventInvokeConfigCommand, InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { DeleteMessageCommand, GetQueueAttributesCommand, GetQueueUrlCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { loadConfig } from "../../config";
import { resourceNames } from "../../stacks/shared/naming";
import { onFailureRecord } from "../../local/async-failures";
import { parseRecord, redrive } from "../../scripts/redrive";

const config = loadConfig("dev");
const names = resourceNames(config);
const QUEUE = names.stackAsyncFailureQueue("iot");
const QUEUE_URL = `https://sqs.${config.region}.amazonaws.com/${config.accountId}/${QUEUE}`;
const QUEUE_ARN = `arn:aws:sqs:${config.region}:${config.accountId}:${QUEUE}`;
/** Functions whose on-failure destination is this queue (the iot stack's three). */
const SENDING_HERE = [names.alertHandlerFunction, names.offlineDetectorFunction, names.healthCheckFunction];
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
  sqs.on(GetQueueAttributesCommand, { QueueUrl: QUEUE_URL, AttributeNames: ["QueueArn"] }).resolves({ Attributes: { QueueArn: QUEUE_ARN } });
  sqs.on(DeleteMessageCommand).resolves({});
  lambda
    .on(GetFunctionEventInvokeConfigCommand)
    .rejects(Object.assign(new Error("The function doesn't have an EventInvokeConfig"), { name: "ResourceNotFoundException" }));
  for (const fn of SENDING_HERE)
    lambda.on(GetFunctionEventInvokeConfigCommand, { FunctionName: fn }).resolves({ DestinationConfig: { OnFailure: { Destination: QUEUE_ARN } } });
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

test("GIVEN failures of the stack's three functions in the one queue WHEN redriven THEN each goes back to its own function, asking Lambda once per function", async () => {
  const messages = [names.offlineDetectorFunction, names.healthCheckFunction, names.offlineDetectorFunction].map((fn, i) => ({
    MessageId: `m${i}`,
    ReceiptHandle: `h${i}`,
    Body: record(fn, { n: i }),
  }));
  sqs.on(ReceiveMessageCommand).resolvesOnce({ Messages: messages }).resolves({});
  lambda.on(InvokeCommand).resolves({ StatusCode: 202 });

  expect(await run()).toEqual({ seen: 3, replayed: 3, rejected: 0, failed: 0 });
  expect(
    lambda.commandCalls(InvokeCommand).map((c) => [c.args[0].input.FunctionName, JSON.parse(Buffer.from(c.args[0].input.Payload as Uint8Array).toString())]),
  ).toEqual([
    [names.offlineDetectorFunction, { n: 0 }],
    [names.healthCheckFunction, { n: 1 }],
    [names.offlineDetectorFunction, { n: 2 }],
  ]);
  expect(lambda.commandCalls(GetFunctionEventInvokeConfigCommand).map((c) => c.args[0].input.FunctionName)).toEqual([
    names.offlineDetectorFunction,
    names.healthCheckFunction,
  ]);
  expect(lines.at(-1)).toMatch(new RegExp(`3 replayed to ${names.healthCheckFunction}, ${names.offlineDetectorFunction}`));
});

test("GIVEN a message naming a function that does not fail into this queue (planted or misrouted) WHEN redriven THEN nothing is invoked and it stays in the queue", async () => {
  lambda.on(GetFunctionEventInvokeConfigCommand, { FunctionName: names.telemetryBroadcastFunction }).resolves({
    DestinationConfig: {
      OnFailure: { Destination: `arn:aws:sqs:${config.region}:${config.accountId}:${names.asyncFailureQueue(names.telemetryBroadcastFunction)}` },
    },
  });
  sqs
    .on(ReceiveMessageCommand)
    .resolvesOnce({
      Messages: [
        { MessageId: "m2", ReceiptHandle: "h2", Body: record(names.registerDeviceFunction, { serialNumber: "x" }) },
        { MessageId: "m3", ReceiptHandle: "h3", Body: record(names.telemetryBroadcastFunction, { thingName: "x" }) },
      ],
    })
    .resolves({});
  expect(await run()).toEqual({ seen: 2, replayed: 0, rejected: 2, failed: 0 });
  expect(lambda.commandCalls(InvokeCommand)).toHaveLength(0);
  expect(sqs.commandCalls(DeleteMessageCommand)).toHaveLength(0);
  expect(lines[0]).toMatch(new RegExp(`record of ${names.registerDeviceFunction}, whose on-failure destination could not be read: .*EventInvokeConfig`));
  expect(lines[1]).toMatch(
    new RegExp(`record of ${names.telemetryBroadcastFunction}, whose on-failure destination is .*broadcast-async-failures, not this queue`),
  );
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
  expect(parseRecord(body)).toEqual({ problem: expect.stringMatching(problem) });
});
