/**
 * The twin's AWS IoT Core endpoint: a TLS server (client certificate required, as on port 8883) that
 * speaks MQTT 5 and 3.1.1 to devices, asks the {@link IdentityPlane} about every connect, publish,
 * subscribe and delivery, answers fleet-provisioning requests per connection, and relays the rest
 * through a mosquitto that only it can reach.
 *
 * ```ts
 * const frontend = await MqttFrontend.start({ ca, plane });      // starts its own backend mosquitto
 * frontend.on("lifecycle", (e) => publishPresence(e));            // AWS $aws/events/presence/... payloads
 * frontend.on("basic-ingest", (m) => rules.dispatchToRule(m));    // PUBLISHes to $aws/rules/<rule>/..., for that rule only
 * // devices connect to mqtts://127.0.0.1:<frontend.port> with a certificate from `ca`
 * await frontend.close();
 * ```
 *
 * The principal of a connection is its TLS client certificate: its id is the lower-case hex SHA-256 of
 * the certificate's DER, as AWS IoT computes it. A certificate that does not chain to the twin's CA fails
 * the TLS handshake; one that chains but is unknown to the identity plane or not ACTIVE is refused at
 * CONNECT (see `mqtt-session.ts` for every refusal). When the identity plane reports that a
 * certificate left ACTIVE, its live connections are closed.
 */
import { createHash } from "node:crypto";
import { EventEmitter, once } from "node:events";
import * as tls from "node:tls";
import type { LifecycleEvent } from "../lifecycle";
import type { LocalCa } from "../pki";
import { MosquittoBackend } from "./backend";
import type { BasicIngestMessage } from "./basic-ingest";
import type { CertificateStatus, IdentityPlane } from "./contracts";
import { Reason } from "./mqtt-codes";
import { MqttSession } from "./mqtt-session";
import type { FrontendDisconnectReason, SessionHost, SessionIdentity } from "./session-host";

export interface MqttFrontendOptions {
  /** The twin's CA: signs the endpoint's server certificate; device certificates must chain to it. */
  readonly ca: LocalCa;
  readonly plane: IdentityPlane;
  /** @default "127.0.0.1" */
  readonly host?: string;
  /** @default a random free port */
  readonly port?: number;
  /** The mosquitto behind the front end. @default one started (and stopped) by the front end */
  readonly backend?: MosquittoBackend;
  /** How long a TLS connection may take to send CONNECT. @default 10000 */
  readonly connectTimeoutMs?: number;
}

/** A live connection as the front end knows it. */
export interface FrontendConnection {
  readonly clientId: string;
  readonly certificateId: string;
}

/** The events of {@link MqttFrontend} and their listener arguments. */
export interface MqttFrontendEvents {
  /** AWS lifecycle events (`$aws/events/presence/connected|disconnected/<clientId>` payloads). */
  lifecycle: [event: LifecycleEvent];
  /** An authorized PUBLISH to `$aws/rules/<rule>/<topic>`: for rule `<rule>` only, never on the broker (basic-ingest.ts). */
  "basic-ingest": [message: BasicIngestMessage];
}

/** The TLS + MQTT front end (see the module comment). */
export class MqttFrontend extends EventEmitter<MqttFrontendEvents> {
  static async start(options: MqttFrontendOptions): Promise<MqttFrontend> {
    const host = options.host ?? "127.0.0.1";
    const ownsBackend = options.backend === undefined;
    const backend = options.backend ?? (await MosquittoBackend.start());
    const serverCert = await options.ca.issueServerCertificate("localhost", { dnsNames: ["localhost"], ipAddresses: [host] });
    const frontend = new MqttFrontend(options, backend, ownsBackend, serverCert);
    frontend.server.listen(options.port ?? 0, host);
    await once(frontend.server, "listening");
    return frontend;
  }

  readonly host: string;
  private readonly server: tls.Server;
  private readonly sessions = new Set<MqttSession>();
  private readonly byClientId = new Map<string, MqttSession>();
  private readonly versions = new Map<string, number>();
  private readonly sessionVersions = new Map<string, number>();
  private readonly lastTimestamp = new Map<string, number>();
  private readonly sessionHost: SessionHost;
  private readonly onCertificateStatus = (certificateId: string, status: CertificateStatus): void => {
    if (status === "ACTIVE") return;
    for (const session of [...this.sessions]) {
      if (session.certificateId === certificateId) session.kick("AUTH_ERROR", Reason.NotAuthorized);
    }
  };

  private constructor(
    private readonly options: MqttFrontendOptions,
    /** The mosquitto behind this front end. */
    readonly backend: MosquittoBackend,
    private readonly ownsBackend: boolean,
    serverCert: { certPem: string; keyPem: string },
  ) {
    super();
    this.host = options.host ?? "127.0.0.1";
    this.sessionHost = {
      plane: options.plane,
      backend: backend.credentials,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      backendClientId: (clientId) => `twin-frontend/${clientId}`,
      claim: (session) => this.claim(session),
      connected: (identity) => this.emitLifecycle(identity, "connected"),
      basicIngest: (message) => this.emit("basic-ingest", message),
      disconnected: (session, identity, reason, accepted) => this.release(session, identity, reason, accepted),
    };
    this.server = tls.createServer(
      {
        key: serverCert.keyPem,
        cert: serverCert.certPem,
        ca: [options.ca.certPem],
        requestCert: true,
        rejectUnauthorized: true, // AWS IoT requires a client certificate on 8883
        minVersion: "TLSv1.2",
      },
      (socket) => this.accept(socket),
    );
    this.server.on("tlsClientError", () => undefined);
    options.plane.on("certificate-status", this.onCertificateStatus);
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === "object" && address ? address.port : 0;
  }

  /** `mqtts://<host>:<port>` */
  get url(): string {
    return `mqtts://${this.host}:${this.port}`;
  }

  /** The accepted connections right now. */
  connections(): FrontendConnection[] {
    return [...this.byClientId.values()].filter((s) => s.isOpen).map((s) => ({ clientId: s.clientId!, certificateId: s.certificateId }));
  }

  /** Close every connection (MQTT 5 clients get DISCONNECT 0x8B "server shutting down") and the server. */
  async close(): Promise<void> {
    this.options.plane.off("certificate-status", this.onCertificateStatus);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const session of [...this.sessions]) session.kick("SERVER_INITIATED_DISCONNECT", 0x8b);
    await closed;
    if (this.ownsBackend) await this.backend.close();
  }

  private accept(socket: tls.TLSSocket): void {
    const peer = socket.getPeerCertificate();
    if (!peer || !peer.raw) {
      socket.destroy();
      return;
    }
    const certificateId = createHash("sha256").update(peer.raw).digest("hex");
    const session = new MqttSession(socket, certificateId, this.sessionHost);
    this.sessions.add(session);
    socket.once("close", () => this.sessions.delete(session));
  }

  /** One connection per client id: a newer CONNECT takes the id over, as on AWS IoT. */
  private claim(session: MqttSession): void {
    const clientId = session.clientId!;
    const older = this.byClientId.get(clientId);
    if (older && older !== session) older.kick("DUPLICATE_CLIENTID", Reason.SessionTakenOver);
    this.byClientId.set(clientId, session);
  }

  private release(session: MqttSession, identity: SessionIdentity, reason: FrontendDisconnectReason, accepted: boolean): void {
    if (this.byClientId.get(identity.clientId) === session) this.byClientId.delete(identity.clientId);
    if (accepted) this.emitLifecycle(identity, "disconnected", reason);
  }

  private emitLifecycle(identity: SessionIdentity, eventType: "connected" | "disconnected", reason?: FrontendDisconnectReason): void {
    const clientId = identity.clientId;
    if (/[#+]/.test(clientId)) return; // AWS sends no lifecycle events for client ids with # or +
    let versionNumber: number;
    if (eventType === "connected") {
      versionNumber = (this.versions.get(clientId) ?? 0) + 1;
      this.versions.set(clientId, versionNumber);
      this.sessionVersions.set(identity.sessionIdentifier, versionNumber);
    } else {
      versionNumber = this.sessionVersions.get(identity.sessionIdentifier) ?? this.versions.get(clientId) ?? 0;
      this.sessionVersions.delete(identity.sessionIdentifier);
    }
    // Strictly increasing per client id, so "newer than the last applied event" orders them.
    const last = this.lastTimestamp.get(clientId) ?? 0;
    const now = Date.now();
    const timestamp = now > last ? now : last + 1;
    this.lastTimestamp.set(clientId, timestamp);
    const event: LifecycleEvent =
      eventType === "connected"
        ? {
            clientId,
            timestamp,
            eventType,
            sessionIdentifier: identity.sessionIdentifier,
            principalIdentifier: identity.certificateId,
            ipAddress: identity.ipAddress,
            versionNumber,
          }
        : {
            clientId,
            timestamp,
            eventType,
            sessionIdentifier: identity.sessionIdentifier,
            principalIdentifier: identity.certificateId,
            clientInitiatedDisconnect: reason === "CLIENT_INITIATED_DISCONNECT",
            disconnectReason: reason,
            versionNumber,
          };
    this.emit("lifecycle", event);
  }
}
