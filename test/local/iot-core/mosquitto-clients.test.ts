/**
 * The twin's MQTT front end against the mosquitto command-line clients (Debian's `mosquitto-clients`),
 * over MQTT 3.1.1 and MQTT 5, as a user would try it: refused client ids and subscriptions, a refused
 * publish, and allowed traffic end to end.
 */
import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { LifecycleEvent } from "../../../local/lifecycle";
import { MqttFrontend } from "../../../local/iot-core/mqtt-frontend";
import { type IssuedCertificate, LocalCa, writePemFiles } from "../../../local/pki";
import { FakeIdentityPlane, controllerGrants, deviceGrants } from "./fake-identity-plane";
import { waitFor } from "./sdk-client";

interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

let ca: LocalCa;
let plane: FakeIdentityPlane;
let frontend: MqttFrontend;
let dir: string;
const lifecycle: LifecycleEvent[] = [];

beforeAll(async () => {
  ca = await LocalCa.create();
  plane = new FakeIdentityPlane(ca);
  frontend = await MqttFrontend.start({ ca, plane });
  frontend.on("lifecycle", (e) => lifecycle.push(e));
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "frontend-cli-"));
  await fs.writeFile(path.join(dir, "ca.pem"), ca.certPem);
});

afterAll(async () => {
  await frontend.close();
  await fs.rm(dir, { recursive: true, force: true });
});

/** Run a mosquitto client with the TLS options for `identity`; `-W` bounds how long it may wait. */
function run(tool: "mosquitto_pub" | "mosquitto_sub", files: { certPath: string; keyPath: string }, args: string[]): Promise<RunResult> {
  const tlsArgs = ["-h", "127.0.0.1", "-p", String(frontend.port), "--cafile", path.join(dir, "ca.pem"), "--cert", files.certPath, "--key", files.keyPath];
  return new Promise((resolve) => {
    execFile(tool, [...tlsArgs, ...args], { timeout: 15_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === "number" ? Number((err as NodeJS.ErrnoException).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function files(name: string, issued: IssuedCertificate): Promise<{ certPath: string; keyPath: string }> {
  return writePemFiles(dir, name, issued);
}

test("fails when mosquitto_sub (MQTT 5) connects a device under another thing's client id: CONNACK not authorized", async () => {
  const device = await files("pi-cli-a", await plane.issue("pi-cli-a", deviceGrants("pi-cli-a")));
  const result = await run("mosquitto_sub", device, ["-V", "mqttv5", "-i", "pi-cli-b", "-t", "devices/pi-cli-b/commands", "-W", "5"]);
  expect(result.code).not.toBe(0);
  expect(result.stderr).toMatch(/not authori[sz]ed/i);
});

test("fails when mosquitto_sub (MQTT 3.1.1) subscribes a device to #: the SUBACK refuses it", async () => {
  const device = await files("pi-cli-hash", await plane.issue("pi-cli-hash", deviceGrants("pi-cli-hash")));
  const result = await run("mosquitto_sub", device, ["-V", "mqttv311", "-i", "pi-cli-hash", "-t", "#", "-W", "5"]);
  expect(result.stderr).toMatch(/All subscription requests were denied/);
});

test("fails when mosquitto_sub (MQTT 5) subscribes a device to another thing's commands: the SUBACK refuses it", async () => {
  const device = await files("pi-cli-nosy", await plane.issue("pi-cli-nosy", deviceGrants("pi-cli-nosy")));
  const result = await run("mosquitto_sub", device, ["-V", "mqttv5", "-i", "pi-cli-nosy", "-t", "devices/pi-cli-other/commands", "-W", "5"]);
  expect(result.stderr).toMatch(/All subscription requests were denied/);
});

test("fails when mosquitto_pub (MQTT 5) publishes QoS 1 on another thing's topic: the PUBACK says not authorized", async () => {
  const device = await files("pi-cli-pub5", await plane.issue("pi-cli-pub5", deviceGrants("pi-cli-pub5")));
  const result = await run("mosquitto_pub", device, ["-V", "mqttv5", "-i", "pi-cli-pub5", "-q", "1", "-t", "devices/pi-cli-victim/responses", "-m", "forged"]);
  expect(result.stderr).toMatch(/not authori[sz]ed/i);
});

test("fails when mosquitto_pub (MQTT 3.1.1) publishes on another thing's topic: the connection is closed with AUTH_ERROR", async () => {
  const device = await files("pi-cli-pub3", await plane.issue("pi-cli-pub3", deviceGrants("pi-cli-pub3")));
  await run("mosquitto_pub", device, ["-V", "mqttv311", "-i", "pi-cli-pub3", "-q", "1", "-t", "devices/pi-cli-victim/responses", "-m", "forged"]);
  const event = await waitFor(() => lifecycle.find((e) => e.clientId === "pi-cli-pub3" && e.eventType === "disconnected"), 5000, "disconnected event");
  expect(event.disconnectReason).toBe("AUTH_ERROR");
});

test("GIVEN a device on mosquitto_sub (MQTT 3.1.1) WHEN the controller publishes with mosquitto_pub (MQTT 5) THEN the device prints the command", async () => {
  const device = await files("pi-cli-e2e", await plane.issue("pi-cli-e2e", deviceGrants("pi-cli-e2e")));
  const controller = await files("controller", await plane.issue("controller", controllerGrants()));
  const subscriber = run("mosquitto_sub", device, [
    "-V",
    "mqttv311",
    "-i",
    "pi-cli-e2e",
    "-q",
    "1",
    "-t",
    "devices/pi-cli-e2e/commands",
    "-C",
    "1",
    "-W",
    "10",
  ]);
  await waitFor(() => frontend.connections().find((c) => c.clientId === "pi-cli-e2e"), 5000, "subscriber connected");
  // The SUBSCRIBE follows the CONNACK; publish until the subscriber has printed the message and exited.
  let result: RunResult | undefined;
  void subscriber.then((r) => (result = r));
  for (let attempt = 0; attempt < 20 && !result; attempt++) {
    await run("mosquitto_pub", controller, ["-V", "mqttv5", "-i", "controller", "-q", "1", "-t", "devices/pi-cli-e2e/commands", "-m", '{"op":"ping"}']);
    await new Promise((r) => setTimeout(r, 100));
  }
  const done = await subscriber;
  expect(done.code).toBe(0);
  expect(done.stdout.trim()).toBe('{"op":"ping"}');
});
