import { Construct } from "constructs";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { LambdaFunctionEventInvokeConfig } from "@cdktf/provider-aws/lib/lambda-function-event-invoke-config";
import { SqsQueue } from "@cdktf/provider-aws/lib/sqs-queue";
import { notifyingAlarm } from "./alarms";
import { BundledFunction } from "./bundled-function";
import { TopicRef } from "./refs";

/** Lambda's own default for asynchronous invocations: two retries after the first attempt. */
export const DEFAULT_ASYNC_RETRY_ATTEMPTS = 2;
/** An alert older than an hour is better handled from the queue by a person than delivered late. */
export const DEFAULT_ASYNC_MAX_EVENT_AGE_SECONDS = 3600;
/** Longest SQS retention: an operator has two weeks to look at a failed invocation and redrive it. */
const FAILURE_RETENTION_SECONDS = 14 * 86400;

export interface AsyncFailureDestinationProps {
  /**
   * The functions that IoT rules, EventBridge schedules or SNS invoke asynchronously: one queue and one
   * alarm for all of them (a record names its function in requestContext.functionArn; `npm run redrive`
   * sends each back to its own function).
   */
  readonly functions: readonly BundledFunction[];
  /** Queue name (stacks/shared/naming.ts `asyncFailureQueue` or `stackAsyncFailureQueue`). */
  readonly queueName: string;
  /** Alarm name (stacks/shared/naming.ts, the same as the queue's). */
  readonly alarmName: string;
  /** Where the alarm notifies. */
  readonly topic: TopicRef;
  /** Retries after a failed attempt (0 to 2, Lambda's range). @default 2 */
  readonly maximumRetryAttempts?: number;
  /** Oldest event Lambda still runs (60 to 21600 s); older ones go to the queue. @default 3600 */
  readonly maximumEventAgeSeconds?: number;
}

/**
 * Nothing invoked asynchronously is lost: after its retries (or when it waited too long) Lambda sends
 * the invocation record — the event, the error, the attempt count — to an encrypted SQS queue, and an
 * alarm fires on the first one. README "Redriving failed invocations" says how to replay them.
 *
 * Each function's role gets exactly `sqs:SendMessage` on the queue (Lambda sends with that role). One
 * queue per stack rather than per function: an alarm costs $0.10 a month and a queue nothing, and the
 * record says which function failed.
 *
 * @example new AsyncFailureDestination(this, "async-failures", { functions: [alertHandler, healthCheck], queueName, alarmName, topic: alarms })
 */
export class AsyncFailureDestination extends Construct {
  readonly queue: SqsQueue;
  readonly queueName: string;
  readonly queueArn: string;
  readonly invokeConfigs: LambdaFunctionEventInvokeConfig[];
  readonly alarm: CloudwatchMetricAlarm;

  constructor(scope: Construct, id: string, props: AsyncFailureDestinationProps) {
    super(scope, id);
    const retries = props.maximumRetryAttempts ?? DEFAULT_ASYNC_RETRY_ATTEMPTS;
    const maxAge = props.maximumEventAgeSeconds ?? DEFAULT_ASYNC_MAX_EVENT_AGE_SECONDS;
    if (!Number.isInteger(retries) || retries < 0 || retries > 2) {
      throw new Error(`AsyncFailureDestination "${id}": maximumRetryAttempts must be 0, 1 or 2 (Lambda's range), got ${retries}`);
    }
    if (!Number.isInteger(maxAge) || maxAge < 60 || maxAge > 21600) {
      throw new Error(`AsyncFailureDestination "${id}": maximumEventAgeSeconds must be a whole number from 60 to 21600, got ${maxAge}`);
    }

    this.queue = new SqsQueue(this, "queue", {
      name: props.queueName,
      messageRetentionSeconds: FAILURE_RETENTION_SECONDS,
      sqsManagedSseEnabled: true,
    });
    this.queueName = this.queue.name;
    this.queueArn = this.queue.arn;

    if (props.functions.length === 0) throw new Error(`AsyncFailureDestination "${id}": functions is empty; a queue no function sends to is never used`);
    const policyName = `${id}-send`;
    this.invokeConfigs = props.functions.map((fn) => {
      fn.addToRolePolicy(policyName, [{ sid: "AsyncFailures", actions: ["sqs:SendMessage"], resources: [this.queue.arn] }]);
      // One config per function, under the function's construct id, so adding a function moves no other.
      return new LambdaFunctionEventInvokeConfig(this, `${fn.node.id}-invoke-config`, {
        functionName: fn.functionName,
        maximumRetryAttempts: retries,
        maximumEventAgeInSeconds: maxAge,
        destinationConfig: { onFailure: { destination: this.queue.arn } },
        // Lambda checks at once that the role may send to the destination.
        dependsOn: [fn.node.findChild("grants").node.findChild(policyName) as IamRolePolicy],
      });
    });

    this.alarm = new CloudwatchMetricAlarm(this, "alarm", {
      alarmName: props.alarmName,
      alarmDescription:
        `${props.queueName} holds asynchronous invocations that failed ${retries + 1} times or waited over ${maxAge} s: ` +
        "their work (an alert, a sweep) was not done. The record's requestContext.functionArn names the function and its responsePayload the error: " +
        `fix the cause, then npm run redrive -- --queue ${props.queueName}`,
      namespace: "AWS/SQS",
      metricName: "ApproximateNumberOfMessagesVisible",
      dimensions: { QueueName: this.queue.name },
      statistic: "Maximum",
      period: 300,
      ...notifyingAlarm(props.topic),
    });
  }
}
