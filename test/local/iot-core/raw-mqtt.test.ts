/**
 * Front-end behaviours that AWS's clients do not let a test provoke (QoS 2, wills, a lost connection,
 * a device going around the front end), driven with raw MQTT packets (`mqtt-packet`) over TLS.
 */
import { execFile } from "node:child_process";
import * as tls from "node:tls";
import * as mqtt from "mqtt-packet";
import { MqttFrontend } from "../../../local/iot-core/mqtt-frontend";
import { LocalCa } from "../../../local/pki";
import { FakeIdentityPlane, controllerGrants, deviceGrants } from "./fake-identity-plane";
import { SdkClient, waitFor } from "./sdk-client";

let ca: LocalCa;
let plane: FakeIdentityPlane;
let frontend: MqttFrontend;
const closers: Array<() => unknown> = [];

beforeAll(async () => {
  ca = await LocalCa.create();
  plane = new FakeIdentityPlane(ca);
  frontend = await MqttFrontend.start({ ca, plane });
});

afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

afterAll(async () => {
  await frontend.close();
});

/** A bare MQTT connection over TLS that records every packet the front end sends. */
class RawClient {
  static async open(credentials: { certPem: string; keyPem: string }, protocolVersion: 4 | 5): Promise<RawClient> {
    const socket = tls.connect({
      host: "127.0.0.1",
      port: frontend.port,
      ca: ca.certPem,
      cert: credentials.certPem,
      key: credentials.keyPem,
      servername: "localhost",
    });
    await new Promise<void>((resolve, reject) => {
      socket.once("secureConnect", () => resolve());
      socket.once("error", reject);
    });
    const client = new RawClient(socket, protocolVersion);
    closers.push(() => socket.destroy());
    return client;
  }

  readonly packets: mqtt.Packet[] = [];
  closed = false;
  private readonly parser: ReturnType<typeof mqtt.parser>;

  private constructor(
    readonly socket: tls.TLSSocket,
    private readonly protocolVersion: 4 | 5,
  ) {
    this.parser = mqtt.parser({ protocolVersion });
    this.parser.on("packet", (p: mqtt.Packet) => this.packets.push(p));
    socket.on("data", (chunk: Buffer) => this.parser.parse(chunk));
    socket.on("close", () => (this.closed = true));
    socket.on("error", () => undefined);
  }

  send(packet: mqtt.Packet): void {
    this.socket.write(mqtt.generate(packet, { protocolVersion: this.protocolVersion }));
  }

  connect(clientId: string, extra: Partial<mqtt.IConnectPacket> = {}): void {
    this.send({ cmd: "connect", protocolId: "MQTT", protocolVersion: this.protocolVersion, clientId, clean: true, keepalive: 60, ...extra });
  }

  async next<C extends mqtt.PacketCmd>(cmd: C): Promise<Extract<mqtt.Packet, { cmd: C }>> {
    return waitFor(() => this.packets.find((p) => p.cmd === cmd) as Extract<mqtt.Packet, { cmd: C }> | undefined, 5000, `no ${cmd}`);
  }
}

async function observer(topic: string): Promise<SdkClient> {
  const client = await SdkClient.connect({
    port: frontend.port,
    caPem: ca.certPem,
    credentials: await plane.issue("observer", [
      { action: "iot:Connect", resource: "observer" },
      { action: "iot:Subscribe", resource: topic },
      { action: "iot:Receive", resource: topic },
    ]),
    clientId: "observer",
  });
  closers.push(() => client.close());
  await client.subscribe([topic]);
  return client;
}

test("fails when an MQTT 5 client publishes with QoS 2: DISCONNECT 0x9B (QoS not supported), as the CONNACK announced maximum QoS 1", async () => {
  const raw = await RawClient.open(await plane.issue("pi-q2", deviceGrants("pi-q2")), 5);
  raw.connect("pi-q2");
  const connack = await raw.next("connack");
  expect(connack.properties?.maximumQoS).toBe(1);
  raw.send({ cmd: "publish", topic: "devices/pi-q2/telemetry", payload: Buffer.from("x"), qos: 2, messageId: 1, dup: false, retain: false });
  expect((await raw.next("disconnect")).reasonCode).toBe(0x9b);
});

test("GIVEN a device with a will on its own topic WHEN its connection is lost THEN the will is published", async () => {
  const watcher = await observer("devices/pi-will/errors");
  const raw = await RawClient.open(await plane.issue("pi-will", deviceGrants("pi-will")), 5);
  raw.connect("pi-will", { will: { topic: "devices/pi-will/errors", payload: Buffer.from("gone"), qos: 1, retain: false } });
  expect((await raw.next("connack")).reasonCode).toBe(0);
  raw.socket.destroy();
  expect((await watcher.waitForMessage("devices/pi-will/errors")).payload.toString()).toBe("gone");
});

test("fails when the will's topic is not one the certificate may publish to: CONNACK 0x87", async () => {
  const raw = await RawClient.open(await plane.issue("pi-badwill", deviceGrants("pi-badwill")), 5);
  raw.connect("pi-badwill", { will: { topic: "devices/pi-victim/errors", payload: Buffer.from("x"), qos: 0, retain: false } });
  expect((await raw.next("connack")).reasonCode).toBe(0x87);
});

test("fails when an MQTT 3.1.1 client subscribes to another thing's topic: SUBACK 0x80 for that filter only", async () => {
  const raw = await RawClient.open(await plane.issue("pi-311", deviceGrants("pi-311")), 4);
  raw.connect("pi-311");
  expect((await raw.next("connack")).returnCode).toBe(0);
  raw.send({
    cmd: "subscribe",
    messageId: 7,
    subscriptions: [
      { topic: "devices/pi-311/commands", qos: 1 },
      { topic: "devices/pi-x/commands", qos: 1 },
    ],
  });
  expect((await raw.next("suback")).granted).toEqual([1, 0x80]);
});

test("GIVEN a device with a persistent session WHEN a command is sent while it is offline THEN it gets the command when it reconnects", async () => {
  const device = await plane.issue("pi-persist", deviceGrants("pi-persist"));
  const first = await RawClient.open(device, 5);
  first.connect("pi-persist", { clean: false, properties: { sessionExpiryInterval: 600 } });
  await first.next("connack");
  first.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "devices/pi-persist/commands", qos: 1 }] });
  await first.next("suback");
  first.send({ cmd: "disconnect", reasonCode: 0 });
  await waitFor(() => (first.closed ? true : undefined), 5000, "first connection closed");

  const controller = await SdkClient.connect({
    port: frontend.port,
    caPem: ca.certPem,
    credentials: await plane.issue("controller", controllerGrants()),
    clientId: "controller",
  });
  closers.push(() => controller.close());
  await controller.publish("devices/pi-persist/commands", "while-away");

  const second = await RawClient.open(device, 5);
  second.connect("pi-persist", { clean: false, properties: { sessionExpiryInterval: 600 } });
  expect((await second.next("connack")).sessionPresent).toBe(true);
  const command = await second.next("publish");
  expect(command.payload.toString()).toBe("while-away");
});

test("fails when a device goes around the front end to the backend mosquitto without its password", async () => {
  const { host, port } = frontend.backend.credentials;
  const result = await new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(
      "mosquitto_pub",
      ["-h", host, "-p", String(port), "-i", "pi-sneaky", "-t", "devices/pi-x/commands", "-m", "x"],
      { timeout: 10_000 },
      (err, _stdout, stderr) => resolve({ code: err ? 1 : 0, stderr }),
    );
  });
  expect(result.code).not.toBe(0);
  expect(result.stderr).toMatch(/not authori[sz]ed/i);
});

test("fails when a client speaks MQTT 3.1 (protocol level 3): CONNACK 0x01, unacceptable protocol version", async () => {
  const raw = await RawClient.open(await plane.issue("pi-31", deviceGrants("pi-31")), 4);
  raw.send({ cmd: "connect", protocolId: "MQIsdp", protocolVersion: 3, clientId: "pi-31", clean: true, keepalive: 60 });
  expect((await raw.next("connack")).returnCode).toBe(0x01);
});

test("fails when a TLS client never sends CONNECT: the front end closes the connection", async () => {
  const impatient = await MqttFrontend.start({ ca, plane, backend: frontend.backend, connectTimeoutMs: 200 });
  closers.push(() => impatient.close());
  const credentials = await plane.issue("pi-silent", deviceGrants("pi-silent"));
  const socket = tls.connect({
    host: "127.0.0.1",
    port: impatient.port,
    ca: ca.certPem,
    cert: credentials.certPem,
    key: credentials.keyPem,
    servername: "localhost",
  });
  socket.on("error", () => undefined);
  closers.push(() => socket.destroy());
  await new Promise<void>((resolve) => socket.once("close", () => resolve()));
  expect(socket.destroyed).toBe(true);
});

test("fails when a connected client sends bytes that are no MQTT packet: DISCONNECT 0x81 (malformed packet)", async () => {
  const raw = await RawClient.open(await plane.issue("pi-garbage", deviceGrants("pi-garbage")), 5);
  raw.connect("pi-garbage");
  await raw.next("connack");
  raw.socket.write(Buffer.from([0x00, 0x00]));
  expect((await raw.next("disconnect")).reasonCode).toBe(0x81);
});

test("fails when the backend mosquitto is down at CONNECT: CONNACK 0x88 (server unavailable)", async () => {
  await frontend.backend.stop();
  closers.push(() => frontend.backend.start());
  const raw = await RawClient.open(await plane.issue("pi-early", deviceGrants("pi-early")), 5);
  raw.connect("pi-early");
  expect((await raw.next("connack")).reasonCode).toBe(0x88);
});

test("GIVEN a requested session expiry of a day and keep-alive of 5 s WHEN connecting THEN the CONNACK caps the expiry at 3600 s and sets keep-alive 30 s", async () => {
  const raw = await RawClient.open(await plane.issue("pi-limits", deviceGrants("pi-limits")), 5);
  raw.connect("pi-limits", { keepalive: 5, properties: { sessionExpiryInterval: 86_400 } });
  const connack = await raw.next("connack");
  expect(connack.properties).toMatchObject({ sessionExpiryInterval: 3600, serverKeepAlive: 30 });
});
