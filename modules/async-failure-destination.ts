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
  /** The function that IoT rules, EventBridge schedules or SNS invoke asynchronously. */
  readonly function: BundledFunction;
  /** Queue name (modules/naming.ts `asyncFailureQueue`). */
  readonly queueName: string;
  /** Alarm name (modules/naming.ts `asyncFailureAlarm`). */
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
 * The function's role gets exactly `sqs:SendMessage` on its own queue (Lambda sends with that role).
 *
 * @example new AsyncFailureDestination(this, "alert-handler-failures", { function: alertHandler, queueName, alarmName, topic: alarms })
 */
export class AsyncFailureDestination extends Construct {
  readonly queue: SqsQueue;
  readonly queueName: string;
  readonly queueArn: string;
  readonly invokeConfig: LambdaFunctionEventInvokeConfig;
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

    const policyName = `${id}-send`;
    props.function.addToRolePolicy(policyName, [{ sid: "AsyncFailures", actions: ["sqs:SendMessage"], resources: [this.queue.arn] }]);

    this.invokeConfig = new LambdaFunctionEventInvokeConfig(this, "invoke-config", {
      functionName: props.function.functionName,
      maximumRetryAttempts: retries,
      maximumEventAgeInSeconds: maxAge,
      destinationConfig: { onFailure: { destination: this.queue.arn } },
      // Lambda checks at once that the role may send to the destination.
      dependsOn: [props.function.node.findChild("grants").node.findChild(policyName) as IamRolePolicy],
    });

    this.alarm = new CloudwatchMetricAlarm(this, "alarm", {
      alarmName: props.alarmName,
      alarmDescription:
        `${props.queueName} holds asynchronous invocations that failed ${retries + 1} times or waited over ${maxAge} s: ` +
        "their work (an alert, a sweep) was not done. Read the record's responsePayload, fix the cause, then redrive (README)",
      namespace: "AWS/SQS",
      metricName: "ApproximateNumberOfMessagesVisible",
      dimensions: { QueueName: this.queue.name },
      statistic: "Maximum",
      period: 300,
      ...notifyingAlarm(props.topic),
    });
  }
}
