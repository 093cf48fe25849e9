/**
 * Several Pis provisioning at once with the same claim certificate on the same endpoint: as on AWS, each
 * provisioning answer reaches only the connection that asked, and the hook sees each device's own
 * client id.
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import { promises as fs } from "node:fs";
import { provision } from "../../device/provision";
import { MqttTestClient } from "../../local/broker";
import { CLAIM_IDENTITY } from "../../local/iot-core/stack-identities";
import { commonNameOf } from "../../local/pki";
import { TestEnv, createTestEnv, memoryLogger, waitFor } from "../support/broker";

jest.setTimeout(120_000);

describe("claim crosstalk isolation", () => {
  let env: TestEnv;

  beforeAll(async () => {
    env = await createTestEnv();
  });

  afterAll(async () => {
    await env?.close();
  });

  const answerTopics = (): string[] => [
    "$aws/certificates/create-from-csr/json/accepted",
    "$aws/certificates/create-from-csr/json/rejected",
    `$aws/provisioning-templates/${env.templateName}/provision/json/accepted`,
    `$aws/provisioning-templates/${env.templateName}/provision/json/rejected`,
  ];

  it("GIVEN four devices and two snooping claim clients WHEN the devices provision concurrently THEN each gets only its own answers", async () => {
    // GIVEN two claim clients on the same endpoint, subscribed to every answer topic the claim policy allows
    const overheard: string[] = [];
    const snoopers: MqttTestClient[] = [];
    for (const clientId of ["provision-snoop-1", "provision-snoop-2"]) {
      const snooper = await env.connectAs(CLAIM_IDENTITY, clientId);
      snooper.onMessage((topic) => overheard.push(topic));
      await snooper.subscribe(answerTopics());
      snoopers.push(snooper);
    }
    const serials = ["crosstalk001", "crosstalk002", "crosstalk003", "crosstalk004"];
    const devices = await Promise.all(
      serials.map(async (serialNumber) => ({ serialNumber, config: (await env.freshDevice(serialNumber, { serialNumber })).config })),
    );

    // WHEN
    const outcomes = await Promise.all(devices.map(({ config }) => provision({ config, log: memoryLogger().log })));

    // THEN every device got a certificate for its own key and a thing named after its own serial
    for (const [i, { serialNumber, config }] of devices.entries()) {
      expect(outcomes[i]).toMatchObject({ status: "provisioned", attempts: 1, thing: { thingName: serialNumber } });
      const certPem = await fs.readFile(config.certFile, "utf8");
      expect(commonNameOf(certPem)).toBe(serialNumber);
      expect(new X509Certificate(certPem).checkPrivateKey(createPrivateKey(await fs.readFile(config.keyFile)))).toBe(true);
    }
    // the hook saw each device's own MQTT client id
    expect(
      env.hookEvents
        .filter((e) => serials.includes(e.parameters.SerialNumber ?? ""))
        .map((e) => [e.parameters.SerialNumber, e.clientId])
        .sort(),
    ).toEqual(serials.map((s) => [s, `provision-${s}`]));
    // and no other claim connection received any of the answers
    expect(overheard).toEqual([]);
  });

  it("fails RegisterThing with InvalidCertificateOwnershipToken and creates no thing WHEN the token was never issued", async () => {
    // GIVEN a claim connection listening for its answers
    const client = await env.connectAs(CLAIM_IDENTITY, "provision-forger");
    const answers: Array<{ topic: string; body: Record<string, unknown> }> = [];
    client.onMessage((topic, payload) => answers.push({ topic, body: JSON.parse(payload.toString()) as Record<string, unknown> }));
    await client.subscribe(answerTopics());

    // WHEN it presents a made-up token
    await client.publish(`$aws/provisioning-templates/${env.templateName}/provision/json`, {
      certificateOwnershipToken: "forged-token",
      parameters: { SerialNumber: "forged0001", DeviceType: "thermostat" },
    });

    // THEN
    const rejected = await waitFor(() => answers.find((a) => a.topic.endsWith("/provision/json/rejected")), "the rejection");
    expect(rejected.body).toEqual({ statusCode: 400, errorCode: "InvalidCertificateOwnershipToken", errorMessage: expect.any(String) });
    expect(env.plane.registry.getThing("forged0001")).toBeUndefined();
  });
});
