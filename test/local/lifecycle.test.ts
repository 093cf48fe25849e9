/**
 * Lifecycle events built from the broker's connect/disconnect events have AWS's shape, are accepted by
 * the REAL offline detector's event schema, and only things' events are routed to it.
 */
import { EventEmitter } from "node:events";
import type { ClientConnectedEvent, ClientDisconnectedEvent, IdentityKind } from "../../local/broker";
import { LifecycleBridge, LifecycleEvent, connectedEvent, disconnectedEvent, lifecycleTopic } from "../../local/lifecycle";
import { lifecycleEventSchema } from "../../functions/offline-detector/lifecycle";

function connected(clientId: string, identityKind: IdentityKind, timestamp: number, sessionIdentifier = `s-${clientId}-${timestamp}`): ClientConnectedEvent {
  return {
    clientId,
    username: clientId,
    identityKind,
    listenerPort: 8883,
    remoteAddress: "127.0.0.1:50123",
    protocol: "p5",
    cleanStart: false,
    keepAliveSeconds: 60,
    sessionIdentifier,
    timestamp,
  };
}

function disconnected(c: ClientConnectedEvent, timestamp: number, disconnectReason: ClientDisconnectedEvent["disconnectReason"]): ClientDisconnectedEvent {
  return { clientId: c.clientId, username: c.username, identityKind: c.identityKind, sessionIdentifier: c.sessionIdentifier, disconnectReason, timestamp };
}

describe("lifecycle events", () => {
  it("GIVEN a connection THEN the connected event has exactly AWS's fields", () => {
    const event = connectedEvent(connected("10000000c0de0001", "thing", 1_700_000_000_000), { principalIdentifier: "ab".repeat(32), versionNumber: 1 });

    expect(event).toEqual({
      clientId: "10000000c0de0001",
      timestamp: 1_700_000_000_000,
      eventType: "connected",
      sessionIdentifier: "s-10000000c0de0001-1700000000000",
      principalIdentifier: "ab".repeat(32),
      ipAddress: "127.0.0.1",
      versionNumber: 1,
    });
    expect(lifecycleTopic(event)).toBe("$aws/events/presence/connected/10000000c0de0001");
    expect(lifecycleEventSchema.safeParse(event).success).toBe(true);
  });

  it("GIVEN a disconnection THEN the disconnected event has AWS's fields with the reason and who initiated it", () => {
    const c = connected("10000000c0de0001", "thing", 1000);
    const clean = disconnectedEvent(disconnected(c, 2000, "CLIENT_INITIATED_DISCONNECT"), { principalIdentifier: "cert", versionNumber: 3 });
    const lost = disconnectedEvent(disconnected(c, 2000, "CONNECTION_LOST"), { principalIdentifier: "cert", versionNumber: 3 });

    expect(clean).toEqual({
      clientId: "10000000c0de0001",
      timestamp: 2000,
      eventType: "disconnected",
      sessionIdentifier: c.sessionIdentifier,
      principalIdentifier: "cert",
      clientInitiatedDisconnect: true,
      disconnectReason: "CLIENT_INITIATED_DISCONNECT",
      versionNumber: 3,
    });
    expect(lost).toMatchObject({ clientInitiatedDisconnect: false, disconnectReason: "CONNECTION_LOST" });
    expect(lifecycleTopic(clean)).toBe("$aws/events/presence/disconnected/10000000c0de0001");
    expect(lifecycleEventSchema.safeParse(clean).success).toBe(true);
  });

  describe("LifecycleBridge", () => {
    const setup = () => {
      const broker = new EventEmitter();
      const delivered: LifecycleEvent[] = [];
      const published: Array<{ topic: string; event: LifecycleEvent }> = [];
      const bridge = new LifecycleBridge({
        broker: broker as never,
        principalOf: (clientId) => `cert-of-${clientId}`,
        deliver: (e) => delivered.push(e),
        publish: async (topic, event) => {
          published.push({ topic, event });
        },
      });
      return { broker, delivered, published, bridge };
    };

    it("GIVEN things, service clients and gateway bridges WHEN they connect THEN only things reach the detector and every non-gateway event is published", () => {
      const { broker, delivered, published } = setup();

      broker.emit("client-connected", connected("10000000c0de0001", "thing", 1000));
      broker.emit("client-connected", connected("local-twin-cloud", "service", 1000));
      broker.emit("client-connected", connected("claim-gateway-1", "gateway", 1000));

      expect(delivered.map((e) => e.clientId)).toEqual(["10000000c0de0001"]);
      expect(delivered[0]!.principalIdentifier).toBe("cert-of-10000000c0de0001");
      expect(published.map((p) => p.topic)).toEqual([
        "$aws/events/presence/connected/10000000c0de0001",
        "$aws/events/presence/connected/local-twin-cloud",
      ]);
    });

    it("GIVEN reconnections THEN versionNumber grows per connection, a disconnect carries its connection's number, and timestamps strictly increase", () => {
      const { broker, delivered } = setup();
      const first = connected("10000000c0de0001", "thing", 5000, "s1");
      const second = connected("10000000c0de0001", "thing", 5000, "s2");

      broker.emit("client-connected", first);
      broker.emit("client-disconnected", disconnected(first, 5000, "SERVER_INITIATED_DISCONNECT"));
      broker.emit("client-connected", second);

      expect(delivered.map((e) => [e.eventType, e.versionNumber, e.sessionIdentifier])).toEqual([
        ["connected", 1, "s1"],
        ["disconnected", 1, "s1"],
        ["connected", 2, "s2"],
      ]);
      const timestamps = delivered.map((e) => e.timestamp);
      expect(timestamps).toEqual([...timestamps].sort((a, b) => a - b));
      expect(new Set(timestamps).size).toBe(3);
    });

    it("GIVEN a closed bridge THEN nothing more is delivered", () => {
      const { broker, delivered, bridge } = setup();
      bridge.close();
      broker.emit("client-connected", connected("10000000c0de0001", "thing", 1000));
      expect(delivered).toEqual([]);
    });
  });
});
