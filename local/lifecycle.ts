/**
 * AWS IoT lifecycle events in the twin. The MQTT front end (`iot-core/mqtt-frontend.ts`) builds them
 * for every connection in AWS's shape:
 *
 * - `$aws/events/presence/connected/<clientId>`
 *   `{clientId, timestamp, eventType: "connected", sessionIdentifier, principalIdentifier, ipAddress, versionNumber}`
 * - `$aws/events/presence/disconnected/<clientId>`
 *   `{clientId, timestamp, eventType: "disconnected", sessionIdentifier, principalIdentifier,
 *     clientInitiatedDisconnect, disconnectReason, versionNumber}`
 *
 * The {@link LifecycleRule} does what AWS IoT does with them: publish each on its topic (for anyone
 * subscribed) and hand it to the rules engine (the twin: `twin-rules.ts`, where the `iot` stack's
 * synthesized lifecycle rule sends it to the real offline detector). The twin's own service clients do
 * not exist on AWS, so their events are published but not handed to the rules.
 */
export interface LifecycleEvent {
  readonly clientId: string;
  /** epoch ms */
  readonly timestamp: number;
  readonly eventType: "connected" | "disconnected";
  readonly sessionIdentifier: string;
  readonly principalIdentifier: string;
  readonly versionNumber: number;
  /** connected only */
  readonly ipAddress?: string;
  /** disconnected only */
  readonly clientInitiatedDisconnect?: boolean;
  /** disconnected only: AWS's reason, e.g. CLIENT_INITIATED_DISCONNECT, CONNECTION_LOST, SERVER_INITIATED_DISCONNECT */
  readonly disconnectReason?: string;
}

/** `$aws/events/presence/<eventType>/<clientId>` */
export function lifecycleTopic(event: Pick<LifecycleEvent, "eventType" | "clientId">): string {
  return `$aws/events/presence/${event.eventType}/${event.clientId}`;
}

export interface LifecycleRuleOptions {
  /** Subscribes to the endpoint's lifecycle events; returns the unsubscribe function. */
  readonly source: (listener: (event: LifecycleEvent) => void) => () => void;
  /** The twin's own clients (no counterpart on AWS): published, not delivered. */
  readonly isTwinClient: (clientId: string) => boolean;
  /** The rules engine. */
  readonly deliver: (event: LifecycleEvent) => void;
  /** Publish an event on its topic; failures (e.g. mosquitto is down) are ignored. */
  readonly publish?: (topic: string, event: LifecycleEvent) => Promise<void>;
}

/** Publishes lifecycle events and delivers them to the rule's action (see the module comment). */
export class LifecycleRule {
  private readonly unsubscribe: () => void;

  constructor(private readonly options: LifecycleRuleOptions) {
    this.unsubscribe = options.source((event) => this.handle(event));
  }

  close(): void {
    this.unsubscribe();
  }

  private handle(event: LifecycleEvent): void {
    if (!this.options.isTwinClient(event.clientId)) this.options.deliver(event);
    this.options.publish?.(lifecycleTopic(event), event).catch(() => undefined);
  }
}
