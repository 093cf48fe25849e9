/**
 * Fleet provisioning through the twin's MQTT front end, with the AWS IoT Device SDK's identity client
 * (`IotIdentityClientv2` over its MQTT 5 client) and raw MQTT 5 publishes for CBOR and hostile cases:
 * answers reach only the requesting connection, carry that connection's client id to the identity
 * plane, and a certificate is usable only after RegisterThing accepted it.
 */
import * as cbor from "cbor";
import { iotidentity } from "aws-iot-device-sdk-v2";
import { createKeyAndCsr } from "../../../device/provision";
import { MqttFrontend } from "../../../local/iot-core/mqtt-frontend";
import { LocalCa } from "../../../local/pki";
import { FakeIdentityPlane, TEMPLATE, claimGrants } from "./fake-identity-plane";
import { ConnectRefused, SdkClient, newIdentityClient, rejection, settle } from "./sdk-client";

const NOT_AUTHORIZED = 0x87;
const CSR_JSON = "$aws/certificates/create-from-csr/json";
const CSR_CBOR = "$aws/certificates/create-from-csr/cbor";

let ca: LocalCa;
let plane: FakeIdentityPlane;
let frontend: MqttFrontend;
let claim: { certPem: string; keyPem: string; certificateId: string };
const clients: SdkClient[] = [];
const identityClients: iotidentity.IotIdentityClientv2[] = [];

beforeAll(async () => {
  ca = await LocalCa.create();
  plane = new FakeIdentityPlane(ca);
  frontend = await MqttFrontend.start({ ca, plane });
  claim = await plane.issue("claim", claimGrants());
});

afterEach(async () => {
  for (const c of identityClients.splice(0)) c.close();
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await frontend.close();
});

async function connect(credentials: { certPem: string; keyPem: string }, clientId: string): Promise<SdkClient> {
  const client = await SdkClient.connect({ port: frontend.port, caPem: ca.certPem, credentials, clientId });
  clients.push(client);
  return client;
}

async function identityClient(clientId: string): Promise<iotidentity.IotIdentityClientv2> {
  const mqtt = await connect(claim, clientId);
  const identity = newIdentityClient(mqtt);
  identityClients.push(identity);
  return identity;
}

describe("with the SDK's identity client", () => {
  test("GIVEN a registered serial WHEN a claim connection runs CreateCertificateFromCsr and RegisterThing THEN the new certificate connects as the thing", async () => {
    plane.allowedSerials.add("SN-100");
    const identity = await identityClient("provision-SN-100");
    const key = await createKeyAndCsr("SN-100");

    const created = await identity.createCertificateFromCsr({ certificateSigningRequest: key.csrPem });
    const registered = await identity.registerThing({
      templateName: TEMPLATE,
      certificateOwnershipToken: created.certificateOwnershipToken!,
      parameters: { SerialNumber: "SN-100", DeviceType: "thermostat" },
    });

    expect(registered.thingName).toBe("SN-100");
    const device = await connect({ certPem: created.certificatePem!, keyPem: key.keyPem }, "SN-100");
    expect(await device.subscribe(["devices/SN-100/commands"])).toEqual([1]);
  });

  test("GIVEN a claim connection WHEN it provisions THEN the identity plane is called with that connection's client id and the claim certificate", async () => {
    const identity = await identityClient("provision-caller-check");
    const key = await createKeyAndCsr("whoever");
    await identity.createCertificateFromCsr({ certificateSigningRequest: key.csrPem });
    expect(plane.provisioningCalls.at(-1)).toEqual({
      operation: "CreateCertificateFromCsr",
      caller: { clientId: "provision-caller-check", certificateId: claim.certificateId },
    });
  });

  test("fails when the serial is not registered: RegisterThing is rejected 403 AccessDenied and the certificate cannot connect", async () => {
    const identity = await identityClient("provision-SN-unknown");
    const key = await createKeyAndCsr("SN-unknown");
    const created = await identity.createCertificateFromCsr({ certificateSigningRequest: key.csrPem });

    const refused = await rejection(
      identity.registerThing({
        templateName: TEMPLATE,
        certificateOwnershipToken: created.certificateOwnershipToken!,
        parameters: { SerialNumber: "SN-unknown" },
      }),
    );

    expect(refused.modeledError).toMatchObject({ statusCode: 403, errorCode: "AccessDenied" });
    const connectError = await connect({ certPem: created.certificatePem!, keyPem: key.keyPem }, "SN-unknown").catch((e: unknown) => e);
    expect(connectError).toBeInstanceOf(ConnectRefused);
    expect((connectError as ConnectRefused).reasonCode).toBe(NOT_AUTHORIZED);
  });

  test("fails when the claim policy does not allow CreateKeysAndCertificate: the request is refused and never reaches the identity plane", async () => {
    const identity = await identityClient("provision-keys");
    const callsBefore = plane.provisioningCalls.length;
    await rejection(identity.createKeysAndCertificate({}));
    expect(plane.provisioningCalls.slice(callsBefore)).toEqual([]);
  });
});

describe("isolation and formats", () => {
  test("GIVEN two claim connections subscribed to the answer topics WHEN each asks for a certificate THEN each receives only its own answer", async () => {
    const a = await connect(claim, "provision-A");
    const b = await connect(claim, "provision-B");
    await a.subscribe([`${CSR_JSON}/accepted`, `${CSR_JSON}/rejected`]);
    await b.subscribe([`${CSR_JSON}/accepted`, `${CSR_JSON}/rejected`]);

    await a.publish(CSR_JSON, JSON.stringify({ certificateSigningRequest: (await createKeyAndCsr("A")).csrPem }));
    const answerA = JSON.parse((await a.waitForMessage(`${CSR_JSON}/accepted`)).payload.toString());
    await b.publish(CSR_JSON, JSON.stringify({ certificateSigningRequest: (await createKeyAndCsr("B")).csrPem }));
    const answerB = JSON.parse((await b.waitForMessage(`${CSR_JSON}/accepted`)).payload.toString());
    await settle();

    expect(answerA.certificateId).not.toBe(answerB.certificateId);
    expect(a.messages).toHaveLength(1);
    expect(b.messages).toHaveLength(1);
  });

  test("GIVEN a claim connection that did not subscribe WHEN it asks for a certificate THEN it receives nothing", async () => {
    const c = await connect(claim, "provision-deaf");
    expect(await c.publish(CSR_JSON, JSON.stringify({ certificateSigningRequest: (await createKeyAndCsr("deaf")).csrPem }))).toBe(0);
    await settle();
    expect(c.messages).toEqual([]);
  });

  test("GIVEN the CBOR topics WHEN a claim connection provisions with CBOR payloads THEN the answers are CBOR with AWS's field names", async () => {
    plane.allowedSerials.add("SN-CBOR");
    const c = await connect(claim, "provision-SN-CBOR");
    const register = `$aws/provisioning-templates/${TEMPLATE}/provision/cbor`;
    await c.subscribe([`${CSR_CBOR}/accepted`, `${register}/accepted`]);

    await c.publish(CSR_CBOR, cbor.encode({ certificateSigningRequest: (await createKeyAndCsr("SN-CBOR")).csrPem }));
    const created = cbor.decodeFirstSync((await c.waitForMessage(`${CSR_CBOR}/accepted`)).payload) as Record<string, string>;
    expect(Object.keys(created).sort()).toEqual(["certificateId", "certificateOwnershipToken", "certificatePem"]);

    await c.publish(register, cbor.encode({ certificateOwnershipToken: created.certificateOwnershipToken, parameters: { SerialNumber: "SN-CBOR" } }));
    const registered = cbor.decodeFirstSync((await c.waitForMessage(`${register}/accepted`)).payload) as Record<string, unknown>;
    expect(registered).toEqual({ thingName: "SN-CBOR", deviceConfiguration: {} });
  });

  test("fails when the request payload is not JSON: rejected 400 InvalidPayload without calling the identity plane", async () => {
    const c = await connect(claim, "provision-garbage");
    await c.subscribe([`${CSR_JSON}/rejected`]);
    const callsBefore = plane.provisioningCalls.length;
    await c.publish(CSR_JSON, "{not json");
    const rejected = JSON.parse((await c.waitForMessage(`${CSR_JSON}/rejected`)).payload.toString());
    expect(rejected).toMatchObject({ statusCode: 400, errorCode: "InvalidPayload" });
    expect(plane.provisioningCalls.length).toBe(callsBefore);
  });
});

describe("a stolen claim certificate", () => {
  test("fails when it publishes a forged answer on another connection's /accepted topic (PUBACK 0x87, not delivered)", async () => {
    const victim = await connect(claim, "provision-victim");
    await victim.subscribe([`${CSR_JSON}/accepted`]);
    const thief = await connect(claim, "provision-thief");
    expect(await thief.publish(`${CSR_JSON}/accepted`, JSON.stringify({ certificateId: "forged" }))).toBe(NOT_AUTHORIZED);
    await settle();
    expect(victim.messages).toEqual([]);
  });

  test("fails when it touches devices/* topics (SUBACK and PUBACK 0x87)", async () => {
    const thief = await connect(claim, "provision-nosy");
    expect(await thief.subscribe(["devices/SN-100/commands", "devices/#"])).toEqual([NOT_AUTHORIZED, NOT_AUTHORIZED]);
    expect(await thief.publish("devices/SN-100/responses", "{}")).toBe(NOT_AUTHORIZED);
  });

  test("fails when it connects with a client id outside provision-* (CONNACK 0x87)", async () => {
    const refused = await connect(claim, "SN-100").catch((e: unknown) => e);
    expect((refused as ConnectRefused).reasonCode).toBe(NOT_AUTHORIZED);
  });
});
