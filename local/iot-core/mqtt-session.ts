/**
 * One device connection on the twin's MQTT front end: MQTT 5 or 3.1.1 framing (`mqtt-packet`) on a
 * TLS socket whose client certificate names the principal, every action authorized by the identity
 * plane, provisioning requests answered on this connection only, everything else relayed through one
 * {@link BackendConnection} to mosquitto. Refusals use AWS IoT Core's answers:
 *
 * | what | MQTT 5 | MQTT 3.1.1 |
 * |---|---|---|
 * | CONNECT refused (certificate not ACTIVE, `iot:Connect`, will topic) | CONNACK 0x87, close | CONNACK 0x05, close |
 * | PUBLISH refused (`iot:Publish`, `iot:RetainPublish`) | QoS 1: PUBACK 0x87; QoS 0: dropped | connection closed |
 * | PUBLISH with QoS 2 | DISCONNECT 0x9B | ignored (no PUBACK) |
 * | SUBSCRIBE filter refused (`iot:Subscribe`, or under Basic Ingest's `$aws/rules/`) | SUBACK 0x87 for that filter | SUBACK 0x80 for that filter |
 * | message from mosquitto, `iot:Receive` refused | not delivered | not delivered |
 * | same client id connects again | DISCONNECT 0x8E to the older one | older one closed |
 * | certificate no longer ACTIVE | DISCONNECT 0x87 | closed |
 *
 * A PUBLISH to `$aws/rules/<rule>/...` (Basic Ingest, see `basic-ingest.ts`) is authorized like any
 * other, then handed to the host for that rule alone and never relayed to mosquitto.
 */
import { randomUUID } from "node:crypto";
import type * as tls from "node:tls";
import * as mqtt from "mqtt-packet";
import { BackendConnection } from "./backend";
import type { AuthorizationRequest } from "./contracts";
import {
  ConnectReturnCode311,
  MAX_SESSION_EXPIRY_SECONDS,
  Reason,
  SUBACK_FAILURE_311,
  effectiveKeepAlive,
  forwardableProperties,
  isValidTopicFilter,
  isValidTopicName,
  topicMatchesFilter,
} from "./mqtt-codes";
import { isBasicIngestTopic, parseBasicIngestTopic } from "./basic-ingest";
import { answerProvisioningRequest, parseProvisioningTopic } from "./provisioning-topics";
import type { FrontendDisconnectReason, SessionHost, SessionIdentity } from "./session-host";

/** Provisioning answers never go through mosquitto: they are written to the requester only. */
const PROVISIONING_NAMESPACE = /^\$aws\/(certificates|provisioning-templates)\//;
type State = "awaiting-connect" | "connecting" | "open" | "closed";

export class MqttSession {
  readonly certificateId: string;
  private state: State = "awaiting-connect";
  private protocolVersion: 4 | 5 = 5;
  private identity?: SessionIdentity;
  private backend?: BackendConnection;
  private readonly parser = mqtt.parser();
  private readonly queued: mqtt.Packet[] = [];
  /** Messages mosquitto sent between its CONNACK and ours (a resumed session's queue). */
  private readonly early: mqtt.IPublishPacket[] = [];
  /** Filters granted to this connection, with their QoS (for provisioning answers). */
  private readonly granted = new Map<string, number>();
  /** Client-side packet id of a delivered QoS 1 message -> mosquitto's id (undefined: local answer). */
  private readonly inflight = new Map<number, number | undefined>();
  private nextPacketId = 1;
  private keepAliveMs = 0;
  private keepAliveTimer?: NodeJS.Timeout;
  private connectTimer?: NodeJS.Timeout;
  private willOnClose = true;

  constructor(
    private readonly socket: tls.TLSSocket,
    certificateId: string,
    private readonly host: SessionHost,
  ) {
    this.certificateId = certificateId;
    this.parser.on("packet", (packet: mqtt.Packet) => this.onPacket(packet));
    this.parser.on("error", () => this.close("CLIENT_ERROR", Reason.MalformedPacket));
    socket.on("data", (chunk: Buffer) => this.parser.parse(chunk));
    socket.on("error", () => undefined);
    socket.on("close", () => this.close("CONNECTION_LOST"));
    this.connectTimer = setTimeout(() => this.close("CLIENT_ERROR"), host.connectTimeoutMs);
  }

  get clientId(): string | undefined {
    return this.identity?.clientId;
  }

  get isOpen(): boolean {
    return this.state === "open";
  }

  /** Server-side end of the connection, e.g. the certificate was revoked. */
  kick(reason: FrontendDisconnectReason, mqtt5ReasonCode: number): void {
    this.close(reason, mqtt5ReasonCode);
  }

  private onPacket(packet: mqtt.Packet): void {
    this.touchKeepAlive();
    if (this.state === "closed") return;
    if (this.state === "awaiting-connect") {
      if (packet.cmd !== "connect") return this.close("CLIENT_ERROR");
      this.state = "connecting";
      clearTimeout(this.connectTimer);
      void this.onConnect(packet);
      return;
    }
    if (this.state === "connecting") {
      this.queued.push(packet);
      return;
    }
    this.dispatch(packet);
  }

  private dispatch(packet: mqtt.Packet): void {
    switch (packet.cmd) {
      case "connect":
        return this.close("CLIENT_ERROR", Reason.ProtocolError);
      case "publish":
        return this.onPublish(packet);
      case "puback": {
        if (packet.messageId === undefined || !this.inflight.has(packet.messageId)) return;
        const backendId = this.inflight.get(packet.messageId);
        this.inflight.delete(packet.messageId);
        if (backendId !== undefined) this.backend?.ack(backendId);
        return;
      }
      case "subscribe":
        return void this.onSubscribe(packet);
      case "unsubscribe":
        return void this.onUnsubscribe(packet);
      case "pingreq":
        return this.write({ cmd: "pingresp" });
      case "disconnect":
        // 0x04 "disconnect with will message" keeps the will; a normal DISCONNECT discards it.
        this.willOnClose = (packet.reasonCode ?? 0) === 0x04;
        return this.close("CLIENT_INITIATED_DISCONNECT");
      default:
        // QoS 2 flow packets and AUTH: AWS IoT supports neither.
        return this.close("CLIENT_ERROR", Reason.ProtocolError);
    }
  }

  private authorize(action: AuthorizationRequest["action"], resource: string): boolean {
    const identity = this.identity!;
    return this.host.plane.authorize({ action, resource, clientId: identity.clientId, certificateId: this.certificateId }).allowed;
  }

  private async onConnect(packet: mqtt.IConnectPacket): Promise<void> {
    if (packet.protocolVersion !== 4 && packet.protocolVersion !== 5) {
      this.protocolVersion = 4;
      this.write({ cmd: "connack", sessionPresent: false, returnCode: ConnectReturnCode311.UnacceptableProtocolVersion });
      return this.close("CLIENT_ERROR");
    }
    this.protocolVersion = packet.protocolVersion;
    const v5 = this.protocolVersion === 5;
    const remote = this.socket.remoteAddress ?? "unknown";
    this.identity = {
      clientId: packet.clientId,
      certificateId: this.certificateId,
      sessionIdentifier: randomUUID(),
      ipAddress: remote.replace(/^::ffff:/, ""),
    };
    const refuse = (code5: number, code311: number): void => {
      this.write(v5 ? { cmd: "connack", sessionPresent: false, reasonCode: code5 } : { cmd: "connack", sessionPresent: false, returnCode: code311 });
      this.close("AUTH_ERROR");
    };
    const certificate = this.host.plane.describeCertificate(this.certificateId);
    if (!certificate || certificate.status !== "ACTIVE") return refuse(Reason.NotAuthorized, ConnectReturnCode311.NotAuthorized);
    if (!this.authorize("iot:Connect", packet.clientId)) return refuse(Reason.NotAuthorized, ConnectReturnCode311.NotAuthorized);
    const will = packet.will;
    if (will) {
      if ((will.qos ?? 0) > 1) return refuse(Reason.QosNotSupported, ConnectReturnCode311.NotAuthorized);
      const willAllowed =
        isValidTopicName(will.topic) && this.authorize("iot:Publish", will.topic) && (!will.retain || this.authorize("iot:RetainPublish", will.topic));
      if (!willAllowed) return refuse(Reason.NotAuthorized, ConnectReturnCode311.NotAuthorized);
    }

    const requestedExpiry = v5 ? (packet.properties?.sessionExpiryInterval ?? 0) : packet.clean ? 0 : MAX_SESSION_EXPIRY_SECONDS;
    const sessionExpiry = Math.min(requestedExpiry, MAX_SESSION_EXPIRY_SECONDS);
    const keepAlive = effectiveKeepAlive(packet.keepalive ?? 0);
    this.host.claim(this);
    if (this.state !== "connecting") return;

    const backend = new BackendConnection(this.host.backend, {
      clientId: this.host.backendClientId(packet.clientId),
      sessionExpirySeconds: sessionExpiry,
      will: will ? { ...will, qos: (will.qos ?? 0) as 0 | 1 } : undefined,
    });
    backend.on("message", (p: mqtt.IPublishPacket) => this.deliver(p));
    this.backend = backend;
    let sessionPresent: boolean;
    try {
      ({ sessionPresent } = await backend.connect(packet.clean !== false));
    } catch {
      backend.destroy();
      this.write(
        v5
          ? { cmd: "connack", sessionPresent: false, reasonCode: Reason.ServerUnavailable }
          : { cmd: "connack", sessionPresent: false, returnCode: ConnectReturnCode311.ServerUnavailable },
      );
      return this.close("SERVER_INITIATED_DISCONNECT");
    }
    if (this.state !== "connecting") return;

    const properties: NonNullable<mqtt.IConnackPacket["properties"]> = {
      maximumQoS: 1,
      retainAvailable: true,
      wildcardSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: false,
      sharedSubscriptionAvailable: false,
      ...(sessionExpiry !== requestedExpiry ? { sessionExpiryInterval: sessionExpiry } : {}),
      ...(keepAlive !== packet.keepalive ? { serverKeepAlive: keepAlive } : {}),
    };
    this.write(v5 ? { cmd: "connack", sessionPresent, reasonCode: 0, properties } : { cmd: "connack", sessionPresent, returnCode: 0 });
    this.state = "open";
    this.keepAliveMs = keepAlive * 1500;
    this.touchKeepAlive();
    this.host.connected(this.identity);
    for (const early of this.early.splice(0)) this.deliver(early);
    for (const queued of this.queued.splice(0)) if (this.state === "open") this.dispatch(queued);
  }

  private onPublish(packet: mqtt.IPublishPacket): void {
    const v5 = this.protocolVersion === 5;
    if (packet.qos === 2) {
      if (v5) this.close("CLIENT_ERROR", Reason.QosNotSupported);
      return; // MQTT 3.1.1: AWS IoT sends no PUBACK for QoS 2
    }
    if (!isValidTopicName(packet.topic)) return this.close("CLIENT_ERROR", Reason.TopicNameInvalid);
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    const request = parseProvisioningTopic(packet.topic);
    const allowed =
      (request !== undefined || !PROVISIONING_NAMESPACE.test(packet.topic)) && // answer topics are subscribe-only
      this.authorize("iot:Publish", packet.topic) &&
      (!packet.retain || this.authorize("iot:RetainPublish", packet.topic));
    if (!allowed) {
      if (!v5) return this.close("AUTH_ERROR");
      if (packet.qos === 1) this.write({ cmd: "puback", messageId: packet.messageId, reasonCode: Reason.NotAuthorized });
      return;
    }
    if (request) {
      if (packet.qos === 1) this.write({ cmd: "puback", messageId: packet.messageId, reasonCode: 0 });
      const caller = { clientId: this.identity!.clientId, certificateId: this.certificateId };
      void answerProvisioningRequest(this.host.plane, caller, request, payload).then((answer) => this.deliverLocal(answer.topic, answer.payload));
      return;
    }
    if (isBasicIngestTopic(packet.topic)) {
      // Straight to the named rule, no broker: nobody can subscribe to it (basic-ingest.ts).
      if (packet.qos === 1) this.write({ cmd: "puback", messageId: packet.messageId, reasonCode: 0 });
      const target = parseBasicIngestTopic(packet.topic);
      if (target) this.host.basicIngest({ ...target, payload, clientId: this.identity!.clientId });
      return;
    }
    const forwarded = this.backend!.publish({
      topic: packet.topic,
      payload,
      qos: packet.qos,
      retain: packet.retain,
      properties: v5 ? forwardableProperties(packet.properties) : undefined,
    });
    if (packet.qos === 1) {
      const messageId = packet.messageId;
      void forwarded.then((code) => {
        // AWS acknowledges with success whether or not anyone subscribed (rules may consume it).
        const reasonCode = code === Reason.NoMatchingSubscribers ? 0 : code;
        if (this.state === "open") this.write({ cmd: "puback", messageId, reasonCode });
      });
    }
  }

  private async onSubscribe(packet: mqtt.ISubscribePacket): Promise<void> {
    const v5 = this.protocolVersion === 5;
    const codes: number[] = new Array(packet.subscriptions.length);
    const toBackend: Array<{ index: number; subscription: mqtt.ISubscription }> = [];
    packet.subscriptions.forEach((s, index) => {
      if (!isValidTopicFilter(s.topic) || s.topic.startsWith("$share/")) {
        codes[index] = v5 ? Reason.TopicFilterInvalid : SUBACK_FAILURE_311;
      } else if (isBasicIngestTopic(s.topic) || !this.authorize("iot:Subscribe", s.topic)) {
        codes[index] = v5 ? Reason.NotAuthorized : SUBACK_FAILURE_311;
      } else {
        const qos = Math.min(s.qos, 1) as 0 | 1; // AWS IoT grants at most QoS 1
        this.granted.set(s.topic, qos);
        codes[index] = qos;
        if (!PROVISIONING_NAMESPACE.test(s.topic)) toBackend.push({ index, subscription: { ...s, qos } });
      }
    });
    if (toBackend.length > 0) {
      const backendCodes = await this.backend!.subscribe(toBackend.map((t) => t.subscription));
      toBackend.forEach((t, i) => {
        const code = backendCodes[i] ?? Reason.UnspecifiedError;
        if (code >= 0x80) codes[t.index] = v5 ? code : SUBACK_FAILURE_311;
      });
    }
    if (this.state === "open") this.write({ cmd: "suback", messageId: packet.messageId, granted: codes });
  }

  private async onUnsubscribe(packet: mqtt.IUnsubscribePacket): Promise<void> {
    const filters = packet.unsubscriptions;
    const existed = filters.map((f) => this.granted.delete(f));
    const remote = filters.filter((f) => !PROVISIONING_NAMESPACE.test(f));
    const remoteCodes = remote.length > 0 ? await this.backend!.unsubscribe(remote) : [];
    let r = 0;
    const codes = filters.map((f, i) => (PROVISIONING_NAMESPACE.test(f) ? (existed[i] ? 0 : 0x11) : (remoteCodes[r++] ?? 0)));
    if (this.state !== "open") return;
    this.write({ cmd: "unsuback", messageId: packet.messageId, granted: codes }); // 3.1.1: codes not on the wire
  }

  /** A message from mosquitto: delivered only when `iot:Receive` allows it. */
  private deliver(packet: mqtt.IPublishPacket): void {
    if (this.state === "connecting") {
      this.early.push(packet);
      return;
    }
    if (this.state !== "open") return; // unacknowledged: mosquitto keeps it for the session
    if (!this.authorize("iot:Receive", packet.topic)) {
      if (packet.qos === 1 && packet.messageId !== undefined) this.backend?.ack(packet.messageId);
      return;
    }
    this.writePublish(packet.topic, packet.payload as Buffer, packet.qos === 1 ? 1 : 0, packet.retain, packet.properties, packet.messageId);
  }

  /** A provisioning answer: to this connection only, if it subscribed and may receive it. */
  private deliverLocal(topic: string, payload: Buffer): void {
    if (this.state !== "open") return;
    const matching = [...this.granted].filter(([filter]) => topicMatchesFilter(filter, topic));
    if (matching.length === 0 || !this.authorize("iot:Receive", topic)) return;
    const qos = Math.max(...matching.map(([, q]) => q)) as 0 | 1;
    this.writePublish(topic, payload, qos, false, undefined, undefined);
  }

  private writePublish(
    topic: string,
    payload: Buffer,
    qos: 0 | 1,
    retain: boolean,
    properties: mqtt.IPublishPacket["properties"],
    backendId: number | undefined,
  ): void {
    const packet: mqtt.IPublishPacket = { cmd: "publish", topic, payload, qos, retain, dup: false };
    if (this.protocolVersion === 5 && properties) packet.properties = forwardableProperties(properties);
    if (qos === 1) {
      const id = this.allocatePacketId();
      packet.messageId = id;
      this.inflight.set(id, backendId);
    }
    this.write(packet);
  }

  private allocatePacketId(): number {
    for (let i = 0; i < 65535; i++) {
      const id = this.nextPacketId;
      this.nextPacketId = (this.nextPacketId % 65535) + 1;
      if (!this.inflight.has(id)) return id;
    }
    return this.nextPacketId;
  }

  private touchKeepAlive(): void {
    if (this.keepAliveMs <= 0) return;
    clearTimeout(this.keepAliveTimer);
    this.keepAliveTimer = setTimeout(() => this.close("MQTT_KEEP_ALIVE_TIMEOUT", Reason.KeepAliveTimeout), this.keepAliveMs);
  }

  private write(packet: mqtt.Packet): void {
    if (this.socket.destroyed) return;
    this.socket.write(mqtt.generate(packet, { protocolVersion: this.protocolVersion }));
  }

  /**
   * End the connection once: an MQTT 5 DISCONNECT with `mqtt5ReasonCode` when given, then the
   * backend (with the will unless the client disconnected normally) and the lifecycle event.
   */
  private close(reason: FrontendDisconnectReason, mqtt5ReasonCode?: number): void {
    if (this.state === "closed") return;
    const wasOpen = this.state === "open";
    this.state = "closed";
    clearTimeout(this.connectTimer);
    clearTimeout(this.keepAliveTimer);
    if (mqtt5ReasonCode !== undefined && this.protocolVersion === 5 && wasOpen) this.write({ cmd: "disconnect", reasonCode: mqtt5ReasonCode });
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
    if (this.backend) {
      if (reason === "CLIENT_INITIATED_DISCONNECT") this.backend.end(this.willOnClose ? 0x04 : 0);
      else this.backend.destroy();
    }
    if (this.identity) this.host.disconnected(this, this.identity, reason, wasOpen);
  }
}
