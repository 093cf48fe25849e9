/**
 * Acceptance (issue 9): a fresh LocalTwin, tried as a user would with AWS's own clients — the AWS IoT
 * Device SDK's identity client (`IotIdentityClientv2`) and MQTT 5 client, mosquitto_pub/mosquitto_sub
 * (Debian's `mosquitto-clients`) and `@aws-sdk/client-iot` on the control-plane URL — behaves like AWS
 * IoT Core on identity and authorization: policies from the synthesized stacks, the real
 * pre-provisioning hook, answers private to the requesting connection, revocation that closes live
 * connections. Nothing here asserts on wall-clock time; waits are bounded by conditions.
 */
import { execFile, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DescribeCertificateCommand, IoTClient, ListCertificatesCommand, ListThingPrincipalsCommand, UpdateCertificateCommand } from "@aws-sdk/client-iot";
import { iotidentity } from "aws-iot-device-sdk-v2";
import { createKeyAndCsr } from "../../device/provision";
import { CLAIM_IDENTITY, CONTROLLER_IDENTITY, TWIN_SERVICE_IDENTITY } from "../../local/iot-core/stack-identities";
import type { LifecycleEvent } from "../../local/lifecycle";
import { LocalTwin } from "../../local/twin";
import { ConnectRefused, SdkClient, newIdentityClient, rejection, settle, waitFor } from "./iot-core/sdk-client";

jest.setTimeout(120_000);

const CSR_JSON = "$aws/certificates/create-from-csr/json";

let twin: LocalTwin;
let workDir: string;
let iotApi: IoTClient;
const lifecycle: LifecycleEvent[] = [];
const lines: string[] = [];
const clients: SdkClient[] = [];
const identityClients: iotidentity.IotIdentityClientv2[] = [];
let serialCounter = 0x100;

beforeAll(async () => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), "twin-fidelity-"));
  twin = await LocalTwin.start({ workDir, functionLogLevel: "silent", printCommands: false, print: (l) => lines.push(l) });
  twin.iot.onLifecycle((e) => lifecycle.push(e));
  iotApi = new IoTClient({ endpoint: twin.iot.controlPlaneUrl, region: twin.config.region, credentials: { accessKeyId: "local", secretAccessKey: "local" } });
});

afterEach(async () => {
  for (const c of identityClients.splice(0)) c.close();
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  iotApi?.destroy();
  await twin?.stop();
  fs.rmSync(workDir, { recursive: true, force: true });
});

/** A fresh Raspberry-Pi-like serial per test. */
const nextSerial = (): string => `10000000f1de${(serialCounter++).toString(16).padStart(4, "0")}`;

async function connect(credentials: { certPem: string; keyPem: string }, clientId: string): Promise<SdkClient> {
  const client = await SdkClient.connect({ port: twin.endpoint.port, caPem: fs.readFileSync(twin.endpoint.caFile, "utf8"), credentials, clientId });
  clients.push(client);
  return client;
}

async function identityClient(clientId: string): Promise<iotidentity.IotIdentityClientv2> {
  const mqtt = await connect(twin.iot.identity(CLAIM_IDENTITY), clientId);
  const identity = newIdentityClient(mqtt);
  identityClients.push(identity);
  return identity;
}

interface Provisioned {
  readonly serial: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly certificateId: string;
}

/** CreateCertificateFromCsr + RegisterThing with the SDK's identity client, as a Pi would (any `provision-*` client id). */
async function provision(
  serial: string,
  clientId: string,
  register = true,
): Promise<{ created: Provisioned; registration: Promise<iotidentity.model.RegisterThingResponse> }> {
  if (register) expect((await twin.registerDevice(serial, twin.config.deviceTypes[0]!)).status).toBe(201);
  const identity = await identityClient(clientId);
  const key = await createKeyAndCsr(serial);
  const response = await identity.createCertificateFromCsr({ certificateSigningRequest: key.csrPem });
  const created = { serial, certPem: response.certificatePem!, keyPem: key.keyPem, certificateId: response.certificateId! };
  const registration = identity.registerThing({
    templateName: twin.names.provisioningTemplate,
    certificateOwnershipToken: response.certificateOwnershipToken!,
    parameters: { SerialNumber: serial, DeviceType: twin.config.deviceTypes[0]! },
  });
  return { created, registration };
}

async function provisionedDevice(): Promise<Provisioned> {
  const serial = nextSerial();
  const { created, registration } = await provision(serial, `provision-${serial}`);
  await registration;
  return created;
}

/** Run a mosquitto command-line client against the twin's endpoint; `-W` in `args` bounds its wait. */
function mosquitto(
  tool: "mosquitto_pub" | "mosquitto_sub",
  files: { certFile: string; keyFile: string },
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const tls = ["-h", twin.endpoint.host, "-p", String(twin.endpoint.port), "--cafile", twin.endpoint.caFile, "--cert", files.certFile, "--key", files.keyFile];
  return new Promise((resolve) => {
    execFile(tool, [...tls, ...args], { timeout: 20_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: unknown }).code) || 1 : 0, stdout, stderr }),
    );
  });
}

function writeDeviceFiles(device: Provisioned): { certFile: string; keyFile: string } {
  const certFile = path.join(workDir, `${device.serial}.cert.pem`);
  const keyFile = path.join(workDir, `${device.serial}.key.pem`);
  fs.writeFileSync(certFile, device.certPem);
  fs.writeFileSync(keyFile, device.keyPem, { mode: 0o600 });
  return { certFile, keyFile };
}

describe("twin.json", () => {
  const twinJson = () => JSON.parse(fs.readFileSync(path.join(workDir, "twin.json"), "utf8")) as Record<string, any>;

  test("GIVEN a started twin THEN its endpoint is the IoT front end", () => {
    expect(twinJson().endpoint).toEqual({ host: "127.0.0.1", port: twin.iot.frontend.port, caFile: twin.endpoint.caFile, url: twin.iot.frontend.url });
  });

  test("GIVEN AWS_ENDPOINT_URL_IOT from twin.json WHEN @aws-sdk/client-iot describes the claim certificate THEN the twin's control plane answers it ACTIVE", async () => {
    const previous = process.env.AWS_ENDPOINT_URL_IOT;
    process.env.AWS_ENDPOINT_URL_IOT = twinJson().iotControlPlaneUrl;
    const client = new IoTClient({ region: twin.config.region, credentials: { accessKeyId: "local", secretAccessKey: "local" } });
    try {
      const claimId = twin.iot.identity(CLAIM_IDENTITY).certificateId;
      const described = await client.send(new DescribeCertificateCommand({ certificateId: claimId }));
      expect(described.certificateDescription).toMatchObject({ certificateId: claimId, status: "ACTIVE" });
    } finally {
      client.destroy();
      if (previous === undefined) delete process.env.AWS_ENDPOINT_URL_IOT;
      else process.env.AWS_ENDPOINT_URL_IOT = previous;
    }
  });

  // The AWS CLI is optional on developer machines (the SDK test above always runs).
  const withAwsCli = spawnSync("aws", ["--version"]).status === 0 ? test : test.skip;
  withAwsCli("GIVEN AWS_ENDPOINT_URL_IOT from twin.json WHEN the AWS CLI runs describe-certificate THEN the twin answers with the certificate", async () => {
    const claimId = twin.iot.identity(CLAIM_IDENTITY).certificateId;
    const env = {
      ...process.env,
      AWS_ENDPOINT_URL_IOT: twinJson().iotControlPlaneUrl,
      AWS_ACCESS_KEY_ID: "local",
      AWS_SECRET_ACCESS_KEY: "local",
      AWS_DEFAULT_REGION: twin.config.region,
    };
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile("aws", ["iot", "describe-certificate", "--certificate-id", claimId, "--output", "json"], { env, timeout: 30_000 }, (err, out, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(out),
      ),
    );
    expect(JSON.parse(stdout).certificateDescription).toMatchObject({ certificateId: claimId, status: "ACTIVE" });
  });

  test("GIVEN twin.json THEN it is readable only by its owner (it holds the API key)", () => {
    expect(fs.statSync(path.join(workDir, "twin.json")).mode & 0o777).toBe(0o600);
  });
});

describe("fleet provisioning with the SDK's identity client", () => {
  test("GIVEN a registered serial WHEN a claim connection with any provision-* client id runs the CSR flow THEN the thing is registered and its certificate connects as the thing", async () => {
    const serial = nextSerial();
    const { created, registration } = await provision(serial, "provision-anything");
    const registered = await registration;

    expect(registered.thingName).toBe(serial);
    const device = await connect(created, serial);
    expect(await device.subscribe([`devices/${serial}/commands`])).toEqual([1]);
    const principals = await iotApi.send(new ListThingPrincipalsCommand({ thingName: serial }));
    expect(principals.principals).toEqual([expect.stringMatching(new RegExp(`:cert/${created.certificateId}$`))]);
  });

  test("fails when the claim certificate asks for CreateKeysAndCertificate: the claim policy does not allow it and no certificate is created", async () => {
    const before = await iotApi.send(new ListCertificatesCommand({ pageSize: 250 }));
    const identity = await identityClient("provision-keys");

    await rejection(identity.createKeysAndCertificate({}));

    const after = await iotApi.send(new ListCertificatesCommand({ pageSize: 250 }));
    expect(after.certificates?.length).toBe(before.certificates?.length);
  });

  test("fails when mosquitto_pub (MQTT 5) publishes a CreateKeysAndCertificate request with the claim certificate: PUBACK not authorized", async () => {
    const result = await mosquitto("mosquitto_pub", twin.iot.identityFiles(CLAIM_IDENTITY), [
      "-V",
      "mqttv5",
      "-i",
      "provision-cli-keys",
      "-q",
      "1",
      "-t",
      "$aws/certificates/create/json",
      "-m",
      "{}",
    ]);
    expect(result.stderr).toMatch(/not authori[sz]ed/i);
  });

  test("fails when the serial is not registered: RegisterThing is rejected with AWS's 403 AccessDenied payload", async () => {
    const serial = nextSerial();
    const { registration } = await provision(serial, `provision-${serial}`, false);

    const refused = await rejection(registration);

    expect(refused.modeledError).toEqual({ statusCode: 403, errorCode: "AccessDenied", errorMessage: expect.any(String) });
  });

  test("fails when the refused serial's certificate connects: CONNACK 0x80 or above, and the certificate stays PENDING_ACTIVATION", async () => {
    const serial = nextSerial();
    const { created, registration } = await provision(serial, `provision-${serial}`, false);
    await rejection(registration);

    const refused = await connect(created, serial).catch((e: unknown) => e);

    expect(refused).toBeInstanceOf(ConnectRefused);
    expect((refused as ConnectRefused).reasonCode).toBeGreaterThanOrEqual(0x80);
    const described = await iotApi.send(new DescribeCertificateCommand({ certificateId: created.certificateId }));
    expect(described.certificateDescription?.status).toBe("PENDING_ACTIVATION");
  });
});

describe("a provisioned device's limits", () => {
  let device: Provisioned;
  let other: Provisioned;

  beforeAll(async () => {
    device = await provisionedDevice();
    other = await provisionedDevice();
  });

  test("fails when it subscribes to another thing's commands: SUBACK 0x80 or above", async () => {
    const client = await connect(device, device.serial);
    const [code] = await client.subscribe([`devices/${other.serial}/commands`]);
    expect(code).toBeGreaterThanOrEqual(0x80);
  });

  test("fails when it subscribes to #: SUBACK 0x80 or above", async () => {
    const client = await connect(device, device.serial);
    const [code] = await client.subscribe(["#"]);
    expect(code).toBeGreaterThanOrEqual(0x80);
  });

  test("fails when it publishes on another thing's responses: PUBACK 0x80 or above", async () => {
    const client = await connect(device, device.serial);
    expect(await client.publish(`devices/${other.serial}/responses`, "{}")).toBeGreaterThanOrEqual(0x80);
  });

  test("fails when it connects with another thing's name as client id: CONNACK 0x80 or above", async () => {
    const refused = await connect(device, other.serial).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConnectRefused);
    expect((refused as ConnectRefused).reasonCode).toBeGreaterThanOrEqual(0x80);
  });

  test("fails when it connects with a client id that is not its thing name: CONNACK 0x80 or above", async () => {
    const refused = await connect(device, `${device.serial}-2`).catch((e: unknown) => e);
    expect((refused as ConnectRefused).reasonCode).toBeGreaterThanOrEqual(0x80);
  });

  test("fails when mosquitto_sub (MQTT 5) connects it under another thing's client id: not authorized", async () => {
    const result = await mosquitto("mosquitto_sub", writeDeviceFiles(device), [
      "-V",
      "mqttv5",
      "-i",
      other.serial,
      "-t",
      `devices/${other.serial}/commands`,
      "-W",
      "5",
    ]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/not authori[sz]ed/i);
  });

  test("fails when mosquitto_sub (MQTT 3.1.1) subscribes it to #: the subscription is denied", async () => {
    const result = await mosquitto("mosquitto_sub", writeDeviceFiles(device), ["-V", "mqttv311", "-i", device.serial, "-t", "#", "-W", "5"]);
    expect(result.stderr).toMatch(/All subscription requests were denied/);
  });

  test("fails when mosquitto_sub (MQTT 5) subscribes it to another thing's commands: the subscription is denied", async () => {
    const result = await mosquitto("mosquitto_sub", writeDeviceFiles(device), [
      "-V",
      "mqttv5",
      "-i",
      device.serial,
      "-t",
      `devices/${other.serial}/commands`,
      "-W",
      "5",
    ]);
    expect(result.stderr).toMatch(/All subscription requests were denied/);
  });

  test("GIVEN the twin's controller WHEN it sends a command THEN only the addressed device receives it", async () => {
    const target = await connect(device, device.serial);
    const bystander = await connect(other, other.serial);
    await target.subscribe([`devices/${device.serial}/commands`]);
    await bystander.subscribe([`devices/${other.serial}/commands`]);

    const { accepted } = twin.publishCommand(device.serial, "ping");
    expect(await accepted).toBe(true);
    await target.waitForMessage(`devices/${device.serial}/commands`);
    await settle();

    expect(bystander.messages).toEqual([]);
  });
});

describe("the claim certificate", () => {
  const claimFiles = () => twin.iot.identityFiles(CLAIM_IDENTITY);

  test("fails when it subscribes to devices/* topics: SUBACK 0x80 or above", async () => {
    const claim = await connect(twin.iot.identity(CLAIM_IDENTITY), "provision-nosy");
    const codes = await claim.subscribe(["devices/+/commands", "devices/#"]);
    expect(codes.every((c) => c >= 0x80)).toBe(true);
  });

  test("fails when it publishes on a device's topic: PUBACK 0x80 or above", async () => {
    const device = await provisionedDevice();
    const claim = await connect(twin.iot.identity(CLAIM_IDENTITY), "provision-forger");
    expect(await claim.publish(`devices/${device.serial}/responses`, "{}")).toBeGreaterThanOrEqual(0x80);
  });

  test("fails when it connects as a thing: CONNACK 0x80 or above", async () => {
    const device = await provisionedDevice();
    const refused = await connect(twin.iot.identity(CLAIM_IDENTITY), device.serial).catch((e: unknown) => e);
    expect((refused as ConnectRefused).reasonCode).toBeGreaterThanOrEqual(0x80);
  });

  test("fails when mosquitto_pub (MQTT 5) publishes a command with it: PUBACK not authorized", async () => {
    const result = await mosquitto("mosquitto_pub", claimFiles(), [
      "-V",
      "mqttv5",
      "-i",
      "provision-cli-pub",
      "-q",
      "1",
      "-t",
      "devices/10000000c0de0001/commands",
      "-m",
      "{}",
    ]);
    expect(result.stderr).toMatch(/not authori[sz]ed/i);
  });

  test("GIVEN two claim connections on the answer topics WHEN one asks for a certificate THEN the other receives nothing", async () => {
    const requester = await connect(twin.iot.identity(CLAIM_IDENTITY), "provision-requester");
    const snoop = await connect(twin.iot.identity(CLAIM_IDENTITY), "provision-snoop");
    for (const c of [requester, snoop]) expect(await c.subscribe([`${CSR_JSON}/accepted`, `${CSR_JSON}/rejected`])).toEqual([1, 1]);

    await requester.publish(CSR_JSON, JSON.stringify({ certificateSigningRequest: (await createKeyAndCsr("requester")).csrPem }));
    const answer = JSON.parse((await requester.waitForMessage(`${CSR_JSON}/accepted`)).payload.toString()) as Record<string, unknown>;
    await settle();

    expect(Object.keys(answer).sort()).toEqual(["certificateId", "certificateOwnershipToken", "certificatePem"]);
    expect(snoop.messages).toEqual([]);
  });

  test("GIVEN mosquitto_sub with the claim certificate on every answer topic WHEN a device provisions THEN it prints nothing", async () => {
    const snoop = mosquitto("mosquitto_sub", claimFiles(), [
      "-V",
      "mqttv5",
      "-i",
      "provision-cli-snoop",
      "-t",
      `${CSR_JSON}/accepted`,
      "-t",
      `$aws/provisioning-templates/${twin.names.provisioningTemplate}/provision/json/accepted`,
      "-W",
      "8",
    ]);
    await waitFor(() => twin.iot.frontend.connections().find((c) => c.clientId === "provision-cli-snoop"), 5000, "mosquitto_sub connected");

    await provisionedDevice();
    const result = await snoop;

    expect(result.stderr).not.toMatch(/denied|not authori[sz]ed/i);
    expect(result.stdout).toBe("");
  });
});

describe("the twin's own identities", () => {
  test("fails when the controller certificate connects as a device: CONNACK 0x80 or above", async () => {
    const device = await provisionedDevice();
    const refused = await connect(twin.iot.identity(CONTROLLER_IDENTITY), device.serial).catch((e: unknown) => e);
    expect((refused as ConnectRefused).reasonCode).toBeGreaterThanOrEqual(0x80);
  });

  test("fails when the controller is asked to subscribe to device commands: its synthesized policy does not allow it", () => {
    // Asked of the running twin's identity plane: a second MQTT connection as the controller thing would
    // take the twin's own controller session over (one connection per client id, as on AWS).
    const decision = twin.iot.plane.authorize({
      action: "iot:Subscribe",
      resource: "devices/+/commands",
      clientId: twin.names.controllerThing,
      certificateId: twin.iot.identity(CONTROLLER_IDENTITY).certificateId,
    });
    expect(decision).toEqual({ allowed: false, reason: "no-policy-allows" });
  });

  test("fails when the twin-service certificate connects as a device: CONNACK 0x80 or above", async () => {
    const device = await provisionedDevice();
    const refused = await connect(twin.iot.identity(TWIN_SERVICE_IDENTITY), device.serial).catch((e: unknown) => e);
    expect((refused as ConnectRefused).reasonCode).toBeGreaterThanOrEqual(0x80);
  });
});

describe("revocation through the control plane", () => {
  test("GIVEN a running simulated Pi WHEN its certificate is revoked with UpdateCertificate THEN its connection is closed and it cannot reconnect", async () => {
    const serial = nextSerial();
    expect((await twin.registerDevice(serial, twin.config.deviceTypes[0]!)).status).toBe(201);
    const pi = await twin.createPi(serial, twin.config.deviceTypes[0]!);
    expect(await twin.provisionPi(pi)).toBe(0);
    await twin.startPi(pi);
    const thing = JSON.parse(fs.readFileSync(path.join(pi.dataDir, "thing.json"), "utf8")) as { certificateId: string };
    const logs: Array<{ msg?: string }> = [];
    pi.on("log", (record) => logs.push(record));

    await iotApi.send(new UpdateCertificateCommand({ certificateId: thing.certificateId, newStatus: "REVOKED" }));

    const closed = await waitFor(() => lifecycle.find((e) => e.clientId === serial && e.eventType === "disconnected"), 10_000, "the Pi's disconnected event");
    expect(closed.disconnectReason).toBe("AUTH_ERROR");
    await waitFor(
      () => (logs.filter((r) => r.msg === "connection attempt failed").length >= 2 ? true : undefined),
      30_000,
      "two refused reconnection attempts",
    );
    expect(logs.filter((r) => r.msg === "connected")).toEqual([]);
    expect(twin.iot.frontend.connections().map((c) => c.clientId)).not.toContain(serial);
    await twin.stopPi(pi);
  });
});
