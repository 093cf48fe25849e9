/**
 * Durable QoS 1 publishing: a message is written to the {@link Outbox} journal first, then handed to the
 * SDK (at most PUBLISH_WINDOW at a time) and leaves the journal on its PUBACK. A failed publish is
 * retried a second later; a PUBACK that refuses it (e.g. not authorised) drops it, since retrying cannot help.
 */
import { mqtt5 } from "aws-iot-device-sdk-v2";
import { waitUntil } from "./backoff";
import { Logger, errorMessage } from "./log";
import { isPubackFailure } from "./mqtt";
import { Outbox, OutboxEntry } from "./outbox";

/** Messages handed to the SDK at once; the rest wait in the journal. */
const PUBLISH_WINDOW = 16;

export interface OutboxPublisherOptions {
  readonly outbox: Outbox;
  /** The current MQTT client (it is replaced when the certificate changes). */
  readonly client: () => mqtt5.Mqtt5Client;
  readonly connected: () => boolean;
  readonly log: Logger;
  readonly onQueued: (entry: OutboxEntry) => void;
  readonly onDelivered: (entry: OutboxEntry) => void;
}

export class OutboxPublisher {
  private readonly inflight = new Set<number>();
  private retryTimer?: NodeJS.Timeout;
  private stopping = false;

  constructor(private readonly o: OutboxPublisherOptions) {}

  /** Queue durably, then try to send. */
  enqueue(topic: string, body: unknown): void {
    const entry = this.o.outbox.enqueue(topic, JSON.stringify(body));
    this.o.onQueued(entry);
    this.pump();
  }

  /** Hand pending journal entries to the SDK, at most PUBLISH_WINDOW at a time. */
  pump(): void {
    if (!this.o.connected()) return;
    for (const entry of this.o.outbox.values()) {
      if (this.inflight.size >= PUBLISH_WINDOW) break;
      if (this.inflight.has(entry.seq)) continue;
      this.inflight.add(entry.seq);
      this.o
        .client()
        .publish({ topicName: entry.topic, payload: entry.payload, qos: mqtt5.QoS.AtLeastOnce })
        .then(
          (result) => {
            this.inflight.delete(entry.seq);
            if (isPubackFailure(result)) {
              // Retrying cannot help (e.g. not authorised): drop it rather than block the queue forever.
              this.o.log.error("broker refused a queued message; dropping it", { topic: entry.topic, reasonCode: result!.reasonCode });
            }
            this.o.outbox.ack(entry.seq);
            this.o.onDelivered(entry);
            this.pump();
          },
          (err: unknown) => {
            this.inflight.delete(entry.seq);
            if (this.stopping) return;
            this.o.log.warn("publish failed; will retry", { topic: entry.topic, seq: entry.seq, error: errorMessage(err) });
            clearTimeout(this.retryTimer);
            this.retryTimer = setTimeout(() => this.pump(), 1000);
          },
        );
    }
  }

  /** No more retries from now on; what is still sent (see flush) may be acknowledged. */
  stop(): void {
    this.stopping = true;
    clearTimeout(this.retryTimer);
  }

  /** Send what is queued while connected, for at most `timeoutMs`; the rest stays in the journal. */
  async flush(timeoutMs: number): Promise<void> {
    if (!this.o.connected()) return;
    this.pump();
    await waitUntil(() => this.o.outbox.size === 0 || !this.o.connected(), timeoutMs);
  }
}
