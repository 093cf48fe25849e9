import { Construct } from "constructs";
import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { LambdaEventSourceMapping } from "@cdktf/provider-aws/lib/lambda-event-source-mapping";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { SqsQueue } from "@cdktf/provider-aws/lib/sqs-queue";
import { notifyingAlarm } from "./alarms";
import { BundledFunction } from "./bundled-function";
import { TopicRef } from "./refs";

export interface StreamConsumerProps {
  /** The function the stream invokes; it must answer with `batchItemFailures` (ReportBatchItemFailures). */
  readonly function: BundledFunction;
  /** The DynamoDB stream (FleetTable `streamArn`). */
  readonly streamArn: string;
  /** Dead-letter queue name (stacks/shared/naming.ts). */
  readonly deadLetterQueueName: string;
  /** Alarm on the first dead letter (stacks/shared/naming.ts). */
  readonly deadLetterAlarmName: string;
  /** Where the alarm notifies. */
  readonly topic: TopicRef;
  /**
   * Lambda event filter patterns (JSON); only matching records invoke the function.
   * @default every record
   */
  readonly filterPatterns?: readonly string[];
  /** Retries of a failing batch before its records go to the dead-letter queue (0 to 10000). @default 10 */
  readonly maximumRetryAttempts?: number;
  /** Records per invocation (1 to 10000). @default 10 */
  readonly batchSize?: number;
  /**
   * Where a new mapping starts: `TRIM_HORIZON` (the oldest record still in the stream) or `LATEST`
   * (records written from now on: for a consumer whose work is moot once the data is old).
   * @default "TRIM_HORIZON"
   */
  readonly startingPosition?: "TRIM_HORIZON" | "LATEST";
  /** Seconds Lambda gathers records before invoking with a partial batch (0 to 300). @default 0 (no wait) */
  readonly batchingWindowSeconds?: number;
  /** Records older than this go to the dead-letter queue instead of being retried (60 to 604800, or -1: until the stream drops them). @default -1 */
  readonly maximumRecordAgeSeconds?: number;
  /** Batches per shard processed at once (1 to 10). @default 1 */
  readonly parallelizationFactor?: number;
}

/** The documented ranges of the DynamoDB event source mapping's settings: https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-params.html */
const RANGES = {
  maximumRetryAttempts: [0, 10000],
  batchSize: [1, 10000],
  batchingWindowSeconds: [0, 300],
  parallelizationFactor: [1, 10],
} as const;

/** Longest SQS retention: an operator has two weeks to look at a dead letter. */
const DEAD_LETTER_RETENTION_SECONDS = 14 * 86400;

/**
 * A DynamoDB stream driving a function, with nothing lost: failed records are retried (the batch is
 * split and only failed items are retried), then their stream coordinates go to an encrypted SQS
 * dead-letter queue, and an alarm fires on the first one. Reads from the oldest record by default, so a
 * record written before the trigger existed (or while it was disabled) is still processed.
 *
 * The function's role gets exactly the stream reads and `sqs:SendMessage` on its own queue.
 *
 * @example new StreamConsumer(this, "revoker-stream", { function: revoker, streamArn: registry.streamArn!, deadLetterQueueName, deadLetterAlarmName, topic })
 */
export class StreamConsumer extends Construct {
  readonly deadLetterQueue: SqsQueue;
  readonly deadLetterQueueArn: string;
  readonly mapping: LambdaEventSourceMapping;
  readonly deadLetterAlarm: CloudwatchMetricAlarm;

  constructor(scope: Construct, id: string, props: StreamConsumerProps) {
    super(scope, id);
    const retries = props.maximumRetryAttempts ?? 10;
    const batchSize = props.batchSize ?? 10;
    const settings = {
      maximumRetryAttempts: retries,
      batchSize,
      batchingWindowSeconds: props.batchingWindowSeconds ?? 0,
      parallelizationFactor: props.parallelizationFactor ?? 1,
    };
    for (const [name, [min, max]] of Object.entries(RANGES) as [keyof typeof RANGES, readonly [number, number]][]) {
      const value = settings[name];
      if (!Number.isInteger(value) || value < min || value > max) {
        throw new Error(`StreamConsumer "${id}": ${name} must be a whole number from ${min} to ${max}, got ${value}`);
      }
    }
    const maxAge = props.maximumRecordAgeSeconds ?? -1;
    if (!Number.isInteger(maxAge) || (maxAge !== -1 && (maxAge < 60 || maxAge > 604800))) {
      throw new Error(`StreamConsumer "${id}": maximumRecordAgeSeconds must be -1 or a whole number from 60 to 604800, got ${maxAge}`);
    }
    for (const pattern of props.filterPatterns ?? []) {
      try {
        JSON.parse(pattern);
      } catch {
        throw new Error(`StreamConsumer "${id}": filter pattern ${pattern} is not JSON`);
      }
    }

    this.deadLetterQueue = new SqsQueue(this, "dead-letters", {
      name: props.deadLetterQueueName,
      messageRetentionSeconds: DEAD_LETTER_RETENTION_SECONDS,
      sqsManagedSseEnabled: true,
    });
    this.deadLetterQueueArn = this.deadLetterQueue.arn;

    const policyName = `${id}-stream`;
    props.function.addToRolePolicy(policyName, [
      // All four on the stream, as DynamoDB documents a stream-only reader:
      // https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/iam-policy-read-stream-only.html
      {
        sid: "ReadStream",
        actions: ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"],
        resources: [props.streamArn],
      },
      { sid: "DeadLetters", actions: ["sqs:SendMessage"], resources: [this.deadLetterQueue.arn] },
    ]);

    this.mapping = new LambdaEventSourceMapping(this, "mapping", {
      functionName: props.function.functionArn,
      eventSourceArn: props.streamArn,
      startingPosition: props.startingPosition ?? "TRIM_HORIZON",
      batchSize,
      // Left to Lambda's defaults (the same values) when not given, so existing mappings synthesize as before.
      maximumBatchingWindowInSeconds: props.batchingWindowSeconds,
      maximumRecordAgeInSeconds: props.maximumRecordAgeSeconds,
      parallelizationFactor: props.parallelizationFactor,
      maximumRetryAttempts: retries,
      bisectBatchOnFunctionError: true,
      functionResponseTypes: ["ReportBatchItemFailures"],
      destinationConfig: { onFailure: { destinationArn: this.deadLetterQueue.arn } },
      filterCriteria: props.filterPatterns?.length ? { filter: props.filterPatterns.map((pattern) => ({ pattern })) } : undefined,
      // The role must be able to read the stream before Lambda validates the mapping.
      dependsOn: [props.function.node.findChild("grants").node.findChild(policyName) as IamRolePolicy],
    });

    this.deadLetterAlarm = new CloudwatchMetricAlarm(this, "dead-letter-alarm", {
      alarmName: props.deadLetterAlarmName,
      alarmDescription:
        `${props.deadLetterQueueName} holds stream records that failed after ${retries} retries${maxAge === -1 ? "" : ` or waited over ${maxAge} s`}: their changes were not applied ` +
        "(each message names the shard and sequence numbers; see the function's error logs)",
      namespace: "AWS/SQS",
      metricName: "ApproximateNumberOfMessagesVisible",
      dimensions: { QueueName: this.deadLetterQueue.name },
      statistic: "Maximum",
      period: 300,
      ...notifyingAlarm(props.topic),
    });
  }
}
