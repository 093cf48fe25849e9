/**
 * The twin's stand-in for the SQS queues that receive failed asynchronous invocations
 * (`aws_lambda_function_event_invoke_config` → `destination_config.on_failure`, modules/async-failure-destination.ts).
 * When an async invocation fails on every attempt, Lambda sends an invocation record to the queue; the
 * twin builds the same record ({@link onFailureRecord}) and keeps it here, in memory, by queue name.
 *
 * ```ts
 * fns.asyncFailures.on("message", (queue, record) => console.log(queue, record.responsePayload.errorMessage));
 * fns.asyncFailures.messages("shf-dev-iot-async-failures");
 * ```
 */
import { EventEmitter } from "node:events";
import type { StreamOnFailureRecord } from "./streams/event-source-mapping";

/** What an on-failure queue receives: an async invocation's record, or a stream mapping's batch description. */
export type QueuedFailureRecord = OnFailureRecord | StreamOnFailureRecord;

/** Lambda's on-failure invocation record (AWS: "Capturing records of Lambda asynchronous invocations"). */
export interface OnFailureRecord {
  readonly version: "1.0";
  /** ISO time of the last attempt. */
  readonly timestamp: string;
  readonly requestContext: {
    readonly requestId: string;
    readonly functionArn: string;
    readonly condition: "RetriesExhausted" | "EventAgeExceeded";
    readonly approximateInvokeCount: number;
  };
  readonly requestPayload: unknown;
  readonly responseContext: { readonly statusCode: 200; readonly executedVersion: "$LATEST"; readonly functionError: "Unhandled" };
  readonly responsePayload: { readonly errorMessage: string; readonly errorType: string };
}

export interface FailedInvocation {
  readonly requestId: string;
  readonly functionArn: string;
  readonly event: unknown;
  readonly attempts: number;
  readonly errorMessage: string;
  readonly errorType: string;
  readonly at: Date;
}

/** The record Lambda sends to an on-failure destination after the last retry. */
export function onFailureRecord(failed: FailedInvocation): OnFailureRecord {
  return {
    version: "1.0",
    timestamp: failed.at.toISOString(),
    requestContext: {
      requestId: failed.requestId,
      // Async invocations of an unqualified function run $LATEST; the record names it.
      functionArn: `${failed.functionArn}:$LATEST`,
      condition: "RetriesExhausted",
      approximateInvokeCount: failed.attempts,
    },
    requestPayload: failed.event,
    responseContext: { statusCode: 200, executedVersion: "$LATEST", functionError: "Unhandled" },
    responsePayload: { errorMessage: failed.errorMessage, errorType: failed.errorType },
  };
}

/** The events of {@link AsyncFailureQueues} and their listener arguments. */
export interface AsyncFailureQueuesEvents {
  message: [queueName: string, record: QueuedFailureRecord];
}

/** In-memory queues by name; messages stay until {@link AsyncFailureQueues.drain} (a redrive) takes them. */
export class AsyncFailureQueues extends EventEmitter<AsyncFailureQueuesEvents> {
  private readonly queues = new Map<string, QueuedFailureRecord[]>();

  send(queueName: string, record: QueuedFailureRecord): void {
    const queue = this.queues.get(queueName) ?? [];
    queue.push(record);
    this.queues.set(queueName, queue);
    this.emit("message", queueName, record);
  }

  /** What a queue holds (ApproximateNumberOfMessagesVisible = its length). */
  messages(queueName: string): readonly QueuedFailureRecord[] {
    return [...(this.queues.get(queueName) ?? [])];
  }

  /** Removes and returns every message of a queue, oldest first (what a redrive moves). */
  drain(queueName: string): QueuedFailureRecord[] {
    const queue = this.queues.get(queueName) ?? [];
    this.queues.delete(queueName);
    return queue;
  }
}
