/**
 * AWS IoT lifecycle events for the local broker. mosquitto has no such events, so they are built from
 * the broker's `client-connected` / `client-disconnected` events (parsed from its log) in AWS's shape:
 *
 * - `$aws/events/presence/connected/<clientId>`
 *   `{clientId, timestamp, eventType: "connected", sessionIdentifier, principalIdentifier, ipAddress, versionNumber}`
 * - `$aws/events/presence/disconnected/<clientId>`
 *   `{clientId, timestamp, eventType: "disconnected", sessionIdentifier, principalIdentifier,
 *     clientInitiatedDisconnect, disconnectReason, versionNumber}`
 *
 * `timestamp` is epoch ms, `principalIdentifier` is the certificate id of the connection (as on AWS for
 * X.509 clients), `sessionIdentifier` is unique per connection, `versionNumber` grows with each
 * connection of a client id (a connection's disconnect carries its number). Timestamps of one client id
 * strictly increase, so the offline detector's "newer than the last applied event" check orders them.
 *
 * The {@link LifecycleBridge} publishes each event on its AWS topic (for anyone watching) and hands the
 * events of things (certificate CN = thing name) to `deliver`, which the twin points at the real offline
 * detector, as the `iot` stack's rule `SELECT * FROM '$aws/events/presence/+/+'` does. The twin's own
 * service clients and the claim gateways' bridges are not things and are not delivered.
 */
import type { ClientConnectedEvent, ClientDisconnectedEvent, MosquittoBroker } from "./broker";

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

/** AWS's connected event for a broker connection. */
export function connectedEvent(e: ClientConnectedEvent, extra: { principalIdentifier: string; versionNumber: number; timestamp?: number }): LifecycleEvent {
  return {
    clientId: e.clientId,
    timestamp: extra.timestamp ?? e.timestamp,
    eventType: "connected",
    sessionIdentifier: e.sessionIdentifier,
    principalIdentifier: extra.principalIdentifier,
    ipAddress: e.remoteAddress.replace(/:\d+$/, ""),
    versionNumber: extra.versionNumber,
  };
}

/** AWS's disconnected event for a broker disconnection. */
export function disconnectedEvent(e: ClientDisconnectedEvent, extra: { principalIdentifier: string; versionNumber: number; timestamp?: number }): LifecycleEvent {
  return {
    clientId: e.clientId,
    timestamp: extra.timestamp ?? e.timestamp,
    eventType: "disconnected",
    sessionIdentifier: e.sessionIdentifier,
    principalIdentifier: extra.principalIdentifier,
    clientInitiatedDisconnect: e.disconnectReason === "CLIENT_INITIATED_DISCONNECT",
    disconnectReason: e.disconnectReason,
    versionNumber: extra.versionNumber,
  };
}

export interface LifecycleBridgeOptions {
  readonly broker: Pick<MosquittoBroker, "on" | "off">;
  /** Certificate id behind a client (AWS's principalIdentifier for X.509 clients). */
  readonly principalOf: (clientId: string, username: string | undefined) => string | undefined;
  /** Called with the events of things (the rule's Lambda action). */
  readonly deliver: (event: LifecycleEvent) => void;
  /** Publish an event on its topic; failures (e.g. the broker is down) are ignored. */
  readonly publish?: (topic: string, event: LifecycleEvent) => Promise<void>;
}

/** Turns broker connection events into AWS lifecycle events (see the module comment). */
export class LifecycleBridge {
  private readonly versions = new Map<string, number>();
  private readonly lastTimestamp = new Map<string, number>();
  private readonly sessions = new Map<string, { versionNumber: number; principalIdentifier: string }>();
  private readonly onConnected = (e: ClientConnectedEvent): void => this.handleConnected(e);
  private readonly onDisconnected = (e: ClientDisconnectedEvent): void => this.handleDisconnected(e);

  constructor(private readonly options: LifecycleBridgeOptions) {
    options.broker.on("client-connected", this.onConnected);
    options.broker.on("client-disconnected", this.onDisconnected);
  }

  close(): void {
    this.options.broker.off("client-connected", this.onConnected);
    this.options.broker.off("client-disconnected", this.onDisconnected);
  }

  private nextTimestamp(clientId: string, timestamp: number): number {
    const last = this.lastTimestamp.get(clientId) ?? 0;
    const ts = timestamp > last ? timestamp : last + 1;
    this.lastTimestamp.set(clientId, ts);
    return ts;
  }

  private handleConnected(e: ClientConnectedEvent): void {
    if (e.identityKind === "gateway") return;
    const versionNumber = (this.versions.get(e.clientId) ?? 0) + 1;
    this.versions.set(e.clientId, versionNumber);
    const principalIdentifier = this.options.principalOf(e.clientId, e.username) ?? "unknown";
    this.sessions.set(e.sessionIdentifier, { versionNumber, principalIdentifier });
    const event = connectedEvent(e, { principalIdentifier, versionNumber, timestamp: this.nextTimestamp(e.clientId, e.timestamp) });
    this.emit(event, e.identityKind === "thing");
  }

  private handleDisconnected(e: ClientDisconnectedEvent): void {
    if (e.identityKind === "gateway") return;
    const session = this.sessions.get(e.sessionIdentifier);
    this.sessions.delete(e.sessionIdentifier);
    const event = disconnectedEvent(e, {
      principalIdentifier: session?.principalIdentifier ?? this.options.principalOf(e.clientId, e.username) ?? "unknown",
      versionNumber: session?.versionNumber ?? this.versions.get(e.clientId) ?? 0,
      timestamp: this.nextTimestamp(e.clientId, e.timestamp),
    });
    this.emit(event, e.identityKind === "thing");
  }

  private emit(event: LifecycleEvent, isThing: boolean): void {
    if (isThing) this.options.deliver(event);
    this.options.publish?.(lifecycleTopic(event), event).catch(() => undefined);
  }
}
