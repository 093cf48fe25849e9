/**
 * The twin's MQTT front end against the AWS IoT Device SDK's MQTT 5 client: connect, subscribe,
 * publish and receive authorized per connection, refusals with AWS IoT Core's reason codes, delivery
 * end to end through mosquitto, client-id takeover and revocation of a live connection.
 */
import { mqtt5 } from "aws-iot-device-sdk-v2";
import type { LifecycleEvent } from "../../../local/lifecycle";
import { MqttFrontend } from "../../../local/iot-core/mqtt-frontend";
import { LocalCa } from "../../../local/pki";
import { FakeIdentityPlane, controllerGrants, deviceGrants } from "./fake-identity-plane";
import { ConnectRefused, SdkClient, settle, waitFor } from "./sdk-client";

const NOT_AUTHORIZED = 0x87;
const SESSION_TAKEN_OVER = 0x8e;

let ca: LocalCa;
let plane: FakeIdentityPlane;
let frontend: MqttFrontend;
const lifecycle: LifecycleEvent[] = [];
const clients: SdkClient[] = [];

beforeAll(async () => {
  ca = await LocalCa.create();
  plane = new FakeIdentityPlane(ca);
  frontend = await MqttFrontend.start({ ca, plane });
  frontend.on("lifecycle", (e) => lifecycle.push(e));
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await frontend.close();
});

async function connect(credentials: { certPem: string; keyPem: string }, clientId: string, sessionExpirySeconds?: number): Promise<SdkClient> {
  const client = await SdkClient.connect({ port: frontend.port, caPem: ca.certPem, credentials, clientId, sessionExpirySeconds });
  clients.push(client);
  return client;
}

async function refusedConnect(credentials: { certPem: string; keyPem: string }, clientId: string): Promise<number | undefined> {
  try {
    await connect(credentials, clientId);
  } catch (err) {
    if (err instanceof ConnectRefused) return err.reasonCode;
    throw err;
  }
  throw new Error(`${clientId} was allowed to connect`);
}

describe("CONNECT", () => {
  test("GIVEN a device certificate WHEN it connects with its thing name THEN it is accepted and a connected event names its certificate", async () => {
    const device = await plane.issue("pi-connect", deviceGrants("pi-connect"));
    await connect(device, "pi-connect");
    const event = await waitFor(() => lifecycle.find((e) => e.clientId === "pi-connect" && e.eventType === "connected"), 5000, "connected event");
    expect(event.principalIdentifier).toBe(device.certificateId);
    expect(frontend.connections()).toContainEqual({ clientId: "pi-connect", certificateId: device.certificateId });
  });

  test("fails when a device connects with another thing's client id (CONNACK 0x87)", async () => {
    const device = await plane.issue("pi-a", deviceGrants("pi-a"));
    expect(await refusedConnect(device, "pi-b")).toBe(NOT_AUTHORIZED);
  });

  test("fails when the certificate chains to the CA but the identity plane never registered it (CONNACK 0x87)", async () => {
    const stranger = await ca.issueClientCertificate("pi-stranger");
    expect(await refusedConnect(stranger, "pi-stranger")).toBe(NOT_AUTHORIZED);
  });

  test("fails when the certificate is PENDING_ACTIVATION (CONNACK 0x87)", async () => {
    const pending = await plane.issue("pi-pending", deviceGrants("pi-pending"), "PENDING_ACTIVATION");
    expect(await refusedConnect(pending, "pi-pending")).toBe(NOT_AUTHORIZED);
  });

  test("fails when the certificate is not from the twin's CA (TLS handshake refused, no CONNACK)", async () => {
    const otherCa = await LocalCa.create({ commonName: "someone else's CA" });
    const foreign = await otherCa.issueClientCertificate("pi-foreign");
    expect(await refusedConnect(foreign, "pi-foreign")).toBeUndefined();
  });
});

describe("lifecycle events", () => {
  test("GIVEN a client id with + WHEN it connects THEN no lifecycle event is emitted for it, as on AWS", async () => {
    await connect(await plane.issue("wild", [{ action: "iot:Connect", resource: "pi+wild" }]), "pi+wild");
    await connect(await plane.issue("pi-after-wild", deviceGrants("pi-after-wild")), "pi-after-wild");
    await waitFor(() => lifecycle.find((e) => e.clientId === "pi-after-wild"), 5000, "event of the next client");
    expect(lifecycle.filter((e) => e.clientId === "pi+wild")).toEqual([]);
  });
});

describe("SUBSCRIBE", () => {
  test("GIVEN a device WHEN it subscribes to its own commands, another thing's commands and # THEN only its own filter is granted", async () => {
    const device = await plane.issue("pi-sub", deviceGrants("pi-sub"));
    const client = await connect(device, "pi-sub");
    const codes = await client.subscribe(["devices/pi-sub/commands", "devices/pi-other/commands", "#"]);
    expect(codes).toEqual([1, NOT_AUTHORIZED, NOT_AUTHORIZED]);
  });
});

describe("PUBLISH and delivery", () => {
  test("fails when a device publishes QoS 1 on another thing's topic (PUBACK 0x87) and nothing is delivered", async () => {
    const controller = await connect(await plane.issue("controller", controllerGrants()), "controller");
    await controller.subscribe(["devices/+/responses"]);
    const device = await connect(await plane.issue("pi-pub", deviceGrants("pi-pub")), "pi-pub");
    expect(await device.publish("devices/pi-victim/responses", "forged")).toBe(NOT_AUTHORIZED);
    await settle();
    expect(controller.messages).toHaveLength(0);
  });

  test("fails when an MQTT 5 device publishes QoS 0 on another thing's topic: dropped, and the connection stays usable", async () => {
    const controller = await connect(await plane.issue("controller", controllerGrants()), "controller");
    await controller.subscribe(["devices/+/responses"]);
    const device = await connect(await plane.issue("pi-q0", deviceGrants("pi-q0")), "pi-q0");
    await device.publish("devices/pi-victim/responses", "forged", { qos: mqtt5.QoS.AtMostOnce });
    expect(await device.publish("devices/pi-q0/responses", "genuine")).toBe(0);
    await controller.waitForMessage("devices/pi-q0/responses");
    expect(controller.messages.map((m) => m.topic)).toEqual(["devices/pi-q0/responses"]);
    expect(device.disconnections).toEqual([]);
  });

  test("GIVEN a controller and a device WHEN each publishes on its allowed topic THEN the other receives it through mosquitto", async () => {
    const controller = await connect(await plane.issue("controller", controllerGrants()), "controller");
    const device = await connect(await plane.issue("pi-flow", deviceGrants("pi-flow")), "pi-flow");
    await controller.subscribe(["devices/+/responses"]);
    await device.subscribe(["devices/pi-flow/commands"]);

    expect(await controller.publish("devices/pi-flow/commands", '{"op":"ping"}')).toBe(0);
    expect((await device.waitForMessage("devices/pi-flow/commands")).payload.toString()).toBe('{"op":"ping"}');
    expect(await device.publish("devices/pi-flow/responses", '{"ok":true}')).toBe(0);
    expect((await controller.waitForMessage("devices/pi-flow/responses")).payload.toString()).toBe('{"ok":true}');
  });

  test("GIVEN a subscription allowed by iot:Subscribe WHEN iot:Receive does not allow a topic THEN that message is not delivered", async () => {
    const watcher = await plane.issue("watcher", [
      { action: "iot:Connect", resource: "watcher" },
      { action: "iot:Subscribe", resource: "devices/+/telemetry" },
      { action: "iot:Receive", resource: "devices/pi-open/telemetry" },
    ]);
    const client = await connect(watcher, "watcher");
    expect(await client.subscribe(["devices/+/telemetry"])).toEqual([1]);
    const closed = await connect(await plane.issue("pi-closed", deviceGrants("pi-closed")), "pi-closed");
    const open = await connect(await plane.issue("pi-open", deviceGrants("pi-open")), "pi-open");
    await closed.publish("devices/pi-closed/telemetry", "secret");
    await open.publish("devices/pi-open/telemetry", "public");
    await client.waitForMessage("devices/pi-open/telemetry");
    await settle();
    expect(client.messages.map((m) => m.topic)).toEqual(["devices/pi-open/telemetry"]);
  });

  test("fails when a retained publish lacks iot:RetainPublish (PUBACK 0x87); with it, a later subscriber gets the retained message", async () => {
    const plain = await connect(await plane.issue("pi-ret", deviceGrants("pi-ret")), "pi-ret");
    expect(await plain.publish("devices/pi-ret/telemetry", "kept?", { retain: true })).toBe(NOT_AUTHORIZED);

    const retainer = await plane.issue("pi-ret2", [...deviceGrants("pi-ret2"), { action: "iot:RetainPublish", resource: "devices/pi-ret2/telemetry" }]);
    const publisher = await connect(retainer, "pi-ret2");
    expect(await publisher.publish("devices/pi-ret2/telemetry", "last", { retain: true })).toBe(0);
    const reader = await connect(
      await plane.issue("reader", [
        { action: "iot:Connect", resource: "reader" },
        { action: "iot:Subscribe", resource: "devices/*/telemetry" },
        { action: "iot:Receive", resource: "devices/*/telemetry" },
      ]),
      "reader",
    );
    await reader.subscribe(["devices/pi-ret2/telemetry", "devices/pi-ret/telemetry"]);
    const message = await reader.waitForMessage("devices/pi-ret2/telemetry");
    expect(message).toMatchObject({ retain: true });
    expect(message.payload.toString()).toBe("last");
    await settle();
    expect(reader.messages.map((m) => m.topic)).not.toContain("devices/pi-ret/telemetry");
  });
});

describe("live connections", () => {
  test("GIVEN a connected device WHEN the same client id connects again THEN the older connection gets DISCONNECT 0x8E and a DUPLICATE_CLIENTID event", async () => {
    const device = await plane.issue("pi-dup", deviceGrants("pi-dup"));
    const first = await connect(device, "pi-dup");
    await connect(device, "pi-dup");
    expect(await first.waitForDisconnection()).toBe(SESSION_TAKEN_OVER);
    const event = await waitFor(() => lifecycle.find((e) => e.clientId === "pi-dup" && e.eventType === "disconnected"), 5000, "disconnected event");
    expect(event).toMatchObject({ disconnectReason: "DUPLICATE_CLIENTID", clientInitiatedDisconnect: false, versionNumber: 1 });
  });

  test("GIVEN a connected device WHEN its certificate is revoked THEN it gets DISCONNECT 0x87 and cannot connect again", async () => {
    const device = await plane.issue("pi-rev", deviceGrants("pi-rev"));
    const client = await connect(device, "pi-rev");
    plane.setStatus(device.certificateId, "REVOKED");
    expect(await client.waitForDisconnection()).toBe(NOT_AUTHORIZED);
    await client.close();
    const event = await waitFor(() => lifecycle.find((e) => e.clientId === "pi-rev" && e.eventType === "disconnected"), 5000, "disconnected event");
    expect(event.disconnectReason).toBe("AUTH_ERROR");
    expect(await refusedConnect(device, "pi-rev")).toBe(NOT_AUTHORIZED);
  });

  test("GIVEN a subscribed device WHEN the backend mosquitto restarts THEN messages still reach it", async () => {
    const device = await connect(await plane.issue("pi-restart", deviceGrants("pi-restart")), "pi-restart");
    await device.subscribe(["devices/pi-restart/commands"]);
    const controller = await connect(await plane.issue("controller", controllerGrants()), "controller");
    await frontend.backend.restart();
    let delivered: { payload: Buffer } | undefined;
    for (let attempt = 0; attempt < 50 && !delivered; attempt++) {
      void controller.publish("devices/pi-restart/commands", "after-restart").catch(() => undefined);
      await settle(200);
      delivered = device.messages.find((m) => m.topic === "devices/pi-restart/commands");
    }
    expect(delivered?.payload.toString()).toBe("after-restart");
  });
});
