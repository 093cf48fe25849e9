/**
 * What an {@link MqttSession} and the front end that owns it tell each other: who connected, why a
 * connection ended (AWS lifecycle `disconnectReason` values), and what the session needs of its host.
 */
import type { BackendCredentials } from "./backend";
import type { BasicIngestMessage } from "./basic-ingest";
import type { IdentityPlane } from "./contracts";
import type { MqttSession } from "./mqtt-session";

/** AWS lifecycle `disconnectReason` values the front end produces. */
export type FrontendDisconnectReason =
  | "CLIENT_INITIATED_DISCONNECT"
  | "CONNECTION_LOST"
  | "MQTT_KEEP_ALIVE_TIMEOUT"
  | "DUPLICATE_CLIENTID"
  | "CLIENT_ERROR"
  | "AUTH_ERROR"
  | "SERVER_INITIATED_DISCONNECT";

export interface SessionIdentity {
  readonly clientId: string;
  readonly certificateId: string;
  readonly sessionIdentifier: string;
  /** Remote IP address (no port). */
  readonly ipAddress: string;
}

/** What a session needs from the front end that owns it. */
export interface SessionHost {
  readonly plane: IdentityPlane;
  readonly backend: BackendCredentials;
  /** Client id at mosquitto for a device client id. */
  backendClientId(clientId: string): string;
  /** Make `session` the one connection of its client id (the older one is taken over). */
  claim(session: MqttSession): void;
  connected(identity: SessionIdentity): void;
  /** The session ended; `accepted` when it had been sent a successful CONNACK (a lifecycle event is due). */
  disconnected(session: MqttSession, identity: SessionIdentity, reason: FrontendDisconnectReason, accepted: boolean): void;
  /** An authorized Basic Ingest PUBLISH, for its rule only (never relayed to the broker). */
  basicIngest(message: BasicIngestMessage): void;
  /** How long a new connection may take to send CONNECT. */
  readonly connectTimeoutMs: number;
}
