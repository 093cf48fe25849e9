/**
 * Replays failed asynchronous invocations: reads Lambda's on-failure records from an async-failure
 * queue (modules/async-failure-destination.ts; one per stack, shared by its functions), invokes the
 * function each record names (requestContext.functionArn) again with the record's original event
 * (asynchronously, as the rule or schedule did), and deletes a message only once Lambda accepted the new
 * invocation. Fix the cause first (the record's responsePayload says what failed).
 *
 *   npm run redrive -- --queue shf-prod-iot-async-failures [--region eu-west-1] [--max 100] [--dry-run]
 *
 * `aws sqs start-message-move-task` cannot do this: it moves messages only between SQS queues, from a
 * queue that is another SQS queue's dead-letter queue; Lambda destinations are not supported.
 * A record is replayed only to a function whose on-failure destination is this very queue (asked of
 * Lambda: GetFunctionEventInvokeConfig); a record naming any other function is left in the queue, untouched.
 */
import { parseArgs } from "node:util";
import { GetFunctionEventInvokeConfigCommand, InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { DeleteMessageCommand, GetQueueAttributesCommand, GetQueueUrlCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";

import { ASYNC_FAILURE_SUFFIX } from "../stacks/shared/naming";

export interface RedriveOptions {
  readonly sqs: SQSClient;
  readonly lambda: LambdaClient;
  readonly queueName: string;
  /** Stop after this many messages. @default 1000 */
  readonly max?: number;
  /** Only read and report; change nothing (messages reappear after the visibility timeout). */
  readonly dryRun?: boolean;
  readonly log?: (line: string) => void;
}

export interface RedriveResult {
  readonly replayed: number;
  /** Messages left in the queue because they are not an on-failure record of a function that sends to this queue. */
  readonly rejected: number;
  /** Invocations Lambda did not accept; their messages stay in the queue. */
  readonly failed: number;
  readonly seen: number;
}

/** The function and event of one on-failure record, or why it is not a Lambda on-failure record. */
export function parseRecord(body: string | undefined): { functionName: string; event: unknown } | { problem: string } {
  let record: { version?: unknown; requestContext?: { functionArn?: unknown }; requestPayload?: unknown };
  try {
    record = JSON.parse(body ?? "") as typeof record;
  } catch {
    return { problem: "body is not JSON" };
  }
  if (record.version !== "1.0" || typeof record.requestContext?.functionArn !== "string" || !("requestPayload" in record)) {
    return { problem: "not a Lambda on-failure record (version 1.0 with requestContext.functionArn and requestPayload)" };
  }
  const m = /^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:([A-Za-z0-9_-]+)(?::[$A-Za-z0-9_-]+)?$/.exec(record.requestContext.functionArn);
  if (!m) return { problem: `functionArn ${record.requestContext.functionArn} is not a Lambda function ARN` };
  return { functionName: m[1]!, event: record.requestPayload };
}

/**
 * Whether `functionName`'s asynchronous invocations fail into `queueArn` (its event invoke config's
 * on-failure destination), so a record in that queue may be sent back to it. Asked once per function.
 */
function destinationCheck(lambda: LambdaClient, queueArn: string): (functionName: string) => Promise<string | undefined> {
  const answers = new Map<string, Promise<string | undefined>>();
  const ask = async (functionName: string): Promise<string | undefined> => {
    try {
      const config = await lambda.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: functionName }));
      const destination = config.DestinationConfig?.OnFailure?.Destination;
      return destination === queueArn ? undefined : `record of ${functionName}, whose on-failure destination is ${destination ?? "none"}, not this queue`;
    } catch (error) {
      return `record of ${functionName}, whose on-failure destination could not be read: ${error instanceof Error ? error.message : String(error)}`;
    }
  };
  return (functionName) => {
    if (!answers.has(functionName)) answers.set(functionName, ask(functionName));
    return answers.get(functionName)!;
  };
}

export async function redrive(o: RedriveOptions): Promise<RedriveResult> {
  const log = o.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  if (!o.queueName.endsWith(ASYNC_FAILURE_SUFFIX))
    throw new Error(`queue ${o.queueName} is not an async-failure queue (its name ends with ${ASYNC_FAILURE_SUFFIX})`);
  const max = o.max ?? 1000;
  const { QueueUrl } = await o.sqs.send(new GetQueueUrlCommand({ QueueName: o.queueName }));
  const { Attributes } = await o.sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["QueueArn"] }));
  if (!Attributes?.QueueArn) throw new Error(`queue ${o.queueName} did not tell its ARN (GetQueueAttributes QueueArn)`);
  const notSendingHere = destinationCheck(o.lambda, Attributes.QueueArn);
  const replayedTo = new Set<string>();
  const counts = { replayed: 0, rejected: 0, failed: 0, seen: 0 };
  // Received messages stay invisible for the visibility timeout, so one pass never sees one twice.
  while (counts.seen < max) {
    const { Messages = [] } = await o.sqs.send(
      new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: Math.min(10, max - counts.seen), VisibilityTimeout: 300, WaitTimeSeconds: 1 }),
    );
    if (Messages.length === 0) break;
    for (const message of Messages) {
      counts.seen++;
      const parsed = parseRecord(message.Body);
      const problem = "problem" in parsed ? parsed.problem : await notSendingHere(parsed.functionName);
      if (problem !== undefined || "problem" in parsed) {
        counts.rejected++;
        log(`left ${message.MessageId}: ${problem}`);
        continue;
      }
      if (o.dryRun) {
        log(`would replay ${message.MessageId} to ${parsed.functionName}`);
        continue;
      }
      try {
        const answer = await o.lambda.send(
          new InvokeCommand({ FunctionName: parsed.functionName, InvocationType: "Event", Payload: Buffer.from(JSON.stringify(parsed.event)) }),
        );
        if (answer.StatusCode !== 202) throw new Error(`Lambda answered ${answer.StatusCode} instead of 202`);
      } catch (error) {
        counts.failed++;
        log(`kept ${message.MessageId}: invoke failed: ${error instanceof Error ? error.message : String(error)}`);
        continue;
      }
      await o.sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: message.ReceiptHandle }));
      counts.replayed++;
      replayedTo.add(parsed.functionName);
    }
  }
  log(
    `${o.queueName}: ${counts.seen} read, ${counts.replayed} replayed${replayedTo.size > 0 ? ` to ${[...replayedTo].sort().join(", ")}` : ""}, ${counts.rejected} left as not replayable, ${counts.failed} kept after a failed invoke${o.dryRun ? " (dry run)" : ""}`,
  );
  return counts;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { queue: { type: "string" }, region: { type: "string" }, max: { type: "string" }, "dry-run": { type: "boolean" } },
  });
  if (!values.queue) throw new Error("usage: npm run redrive -- --queue NAME [--region REGION] [--max N] [--dry-run]");
  const max = values.max === undefined ? undefined : Number(values.max);
  if (max !== undefined && (!Number.isInteger(max) || max < 1)) throw new Error(`--max must be a whole number >= 1, got ${values.max}`);
  const region = values.region ?? process.env.AWS_REGION;
  const result = await redrive({
    sqs: new SQSClient({ region }),
    lambda: new LambdaClient({ region }),
    queueName: values.queue,
    max,
    dryRun: values["dry-run"],
  });
  return result.failed > 0 ? 1 : 0;
}

if (require.main === module) {
  main().then(
    (code) => (process.exitCode = code),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 2;
    },
  );
}
