/**
 * Replays failed asynchronous invocations: reads Lambda's on-failure records from a function's
 * async-failure queue (modules/async-failure-destination.ts), invokes the function again with each record's
 * original event (asynchronously, as the rule or schedule did), and deletes a message only once Lambda
 * accepted the new invocation. Fix the cause first (the record's responsePayload says what failed).
 *
 *   npm run redrive -- --queue shf-prod-alert-handler-async-failures [--region eu-west-1] [--max 100] [--dry-run]
 *
 * `aws sqs start-message-move-task` cannot do this: it moves messages only between SQS queues, from a
 * queue that is another SQS queue's dead-letter queue; Lambda destinations are not supported.
 * A record for any function other than the one the queue belongs to is left in the queue, untouched.
 */
import { parseArgs } from "node:util";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { DeleteMessageCommand, GetQueueUrlCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";

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
  /** Messages left in the queue because they are not an on-failure record of this queue's function. */
  readonly rejected: number;
  /** Invocations Lambda did not accept; their messages stay in the queue. */
  readonly failed: number;
  readonly seen: number;
}

/** The function and event of one on-failure record, or why it is not one this queue may replay. */
export function parseRecord(body: string | undefined, expectedFunction: string): { functionName: string; event: unknown } | { problem: string } {
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
  if (m[1] !== expectedFunction) return { problem: `record of ${m[1]}, but this queue belongs to ${expectedFunction}` };
  return { functionName: m[1]!, event: record.requestPayload };
}

export async function redrive(o: RedriveOptions): Promise<RedriveResult> {
  const log = o.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  if (!o.queueName.endsWith(ASYNC_FAILURE_SUFFIX))
    throw new Error(`queue ${o.queueName} is not an async-failure queue (its name ends with ${ASYNC_FAILURE_SUFFIX})`);
  const functionName = o.queueName.slice(0, -ASYNC_FAILURE_SUFFIX.length);
  const max = o.max ?? 1000;
  const { QueueUrl } = await o.sqs.send(new GetQueueUrlCommand({ QueueName: o.queueName }));
  const counts = { replayed: 0, rejected: 0, failed: 0, seen: 0 };
  // Received messages stay invisible for the visibility timeout, so one pass never sees one twice.
  while (counts.seen < max) {
    const { Messages = [] } = await o.sqs.send(
      new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: Math.min(10, max - counts.seen), VisibilityTimeout: 300, WaitTimeSeconds: 1 }),
    );
    if (Messages.length === 0) break;
    for (const message of Messages) {
      counts.seen++;
      const parsed = parseRecord(message.Body, functionName);
      if ("problem" in parsed) {
        counts.rejected++;
        log(`left ${message.MessageId}: ${parsed.problem}`);
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
    }
  }
  log(
    `${o.queueName}: ${counts.seen} read, ${counts.replayed} replayed to ${functionName}, ${counts.rejected} left as not replayable, ${counts.failed} kept after a failed invoke${o.dryRun ? " (dry run)" : ""}`,
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
