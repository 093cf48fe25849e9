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
}

/** Longest SQS retention: an operator has two weeks to look at a dead letter. */
const DEAD_LETTER_RETENTION_SECONDS = 14 * 86400;

/**
 * A DynamoDB stream driving a function, with nothing lost: failed records are retried (the batch is
 * split and only failed items are retried), then their stream coordinates go to an encrypted SQS
 * dead-letter queue, and an alarm fires on the first one. Reads from the oldest record, so a record
 * written before the trigger existed (or while it was disabled) is still processed.
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
    if (!Number.isInteger(retries) || retries < 0 || retries > 10000) {
      throw new Error(`StreamConsumer "${id}": maximumRetryAttempts must be a whole number from 0 to 10000, got ${retries}`);
    }
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10000) {
      throw new Error(`StreamConsumer "${id}": batchSize must be a whole number from 1 to 10000, got ${batchSize}`);
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
      {
        sid: "ReadStream",
        actions: ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
        resources: [props.streamArn],
      },
      // Lambda lists the table's streams with the function's role; the action has no resource scope.
      { sid: "ListStreams", actions: ["dynamodb:ListStreams"], resources: ["*"] },
      { sid: "DeadLetters", actions: ["sqs:SendMessage"], resources: [this.deadLetterQueue.arn] },
    ]);

    this.mapping = new LambdaEventSourceMapping(this, "mapping", {
      functionName: props.function.functionArn,
      eventSourceArn: props.streamArn,
      startingPosition: "TRIM_HORIZON",
      batchSize,
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
        `${props.deadLetterQueueName} holds stream records that failed after ${retries} retries: their changes were not applied ` +
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
