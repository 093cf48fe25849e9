/**
 * The twin's lifecycle rule: every event of the IoT front end is published on its AWS topic, and every
 * event except those of the twin's own service clients goes to the rule's action (the REAL offline
 * detector, whose schema accepts the events' shape). The events themselves (versions, timestamps,
 * reasons) are built and tested in the front end (test/local/iot-core/mqtt-frontend.test.ts).
 */
import { lifecycleEventSchema } from "../../functions/offline-detector/lifecycle";
import { LifecycleEvent, LifecycleRule, lifecycleTopic } from "../../local/lifecycle";

const connected = (clientId: string): LifecycleEvent => ({
  clientId,
  timestamp: 1000,
  eventType: "connected",
  sessionIdentifier: `s-${clientId}`,
  principalIdentifier: "a".repeat(64),
  ipAddress: "127.0.0.1",
  versionNumber: 1,
});

const disconnected = (clientId: string): LifecycleEvent => ({
  clientId,
  timestamp: 2000,
  eventType: "disconnected",
  sessionIdentifier: `s-${clientId}`,
  principalIdentifier: "a".repeat(64),
  clientInitiatedDisconnect: false,
  disconnectReason: "CONNECTION_LOST",
  versionNumber: 1,
});

function setup() {
  let emit: (event: LifecycleEvent) => void = () => undefined;
  let unsubscribed = false;
  const delivered: LifecycleEvent[] = [];
  const published: string[] = [];
  const rule = new LifecycleRule({
    source: (listener) => {
      emit = listener;
      return () => {
        unsubscribed = true;
        emit = () => undefined;
      };
    },
    isTwinClient: (clientId) => clientId.startsWith("local-twin-service"),
    deliver: (e) => delivered.push(e),
    publish: async (topic) => {
      published.push(topic);
    },
  });
  return { emit: (e: LifecycleEvent) => emit(e), delivered, published, rule, unsubscribed: () => unsubscribed };
}

describe("lifecycle events", () => {
  it("GIVEN the front end's connected and disconnected shapes THEN the offline detector's schema accepts them", () => {
    expect(lifecycleEventSchema.safeParse(connected("10000000c0de0001")).success).toBe(true);
    expect(lifecycleEventSchema.safeParse(disconnected("10000000c0de0001")).success).toBe(true);
  });

  it("GIVEN an event THEN its topic is AWS's presence topic", () => {
    expect(lifecycleTopic(disconnected("10000000c0de0001"))).toBe("$aws/events/presence/disconnected/10000000c0de0001");
  });
});

describe("LifecycleRule", () => {
  it("GIVEN a thing, a claim client and the controller WHEN they connect THEN each event reaches the rule's action", () => {
    const { emit, delivered } = setup();
    for (const id of ["10000000c0de0001", "provision-10000000c0de0001", "smart-home-dev-controller"]) emit(connected(id));
    expect(delivered.map((e) => e.clientId)).toEqual(["10000000c0de0001", "provision-10000000c0de0001", "smart-home-dev-controller"]);
  });

  it("GIVEN a twin service client WHEN it connects THEN its event is published but not delivered", () => {
    const { emit, delivered, published } = setup();
    emit(connected("local-twin-service-rules"));
    expect(delivered).toEqual([]);
    expect(published).toEqual(["$aws/events/presence/connected/local-twin-service-rules"]);
  });

  it("GIVEN events WHEN they arrive THEN each is published on its own topic", () => {
    const { emit, published } = setup();
    emit(connected("10000000c0de0001"));
    emit(disconnected("10000000c0de0001"));
    expect(published).toEqual(["$aws/events/presence/connected/10000000c0de0001", "$aws/events/presence/disconnected/10000000c0de0001"]);
  });

  it("GIVEN a publish that fails WHEN an event arrives THEN it is still delivered", async () => {
    const delivered: LifecycleEvent[] = [];
    let emit: (e: LifecycleEvent) => void = () => undefined;
    new LifecycleRule({
      source: (listener) => ((emit = listener), () => undefined),
      isTwinClient: () => false,
      deliver: (e) => delivered.push(e),
      publish: () => Promise.reject(new Error("mosquitto is down")),
    });
    emit(connected("10000000c0de0001"));
    await new Promise((r) => setImmediate(r));
    expect(delivered).toHaveLength(1);
  });

  it("GIVEN a closed rule THEN it unsubscribes and nothing more is delivered", () => {
    const { emit, delivered, rule, unsubscribed } = setup();
    rule.close();
    emit(connected("10000000c0de0001"));
    expect(unsubscribed()).toBe(true);
    expect(delivered).toEqual([]);
  });
});
