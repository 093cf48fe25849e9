/**
 * Several Pis provisioning at once with the same claim certificate: as on AWS, each provisioning answer
 * reaches only the device that asked (claim gateways, see local/broker.ts).
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import { promises as fs } from "node:fs";
import { provision } from "../../device/provision";
import { MqttTestClient } from "../../local/broker";
import { commonNameOf } from "../../local/pki";
import { PreProvisioningHookEvent, ProvisioningResponder } from "../../local/provisioning-responder";
import { TestEnv, createTestEnv, memoryLogger } from "../support/broker";

jest.setTimeout(120_000);

describe("claim crosstalk isolation", () => {
  let env: TestEnv;
  let responder: ProvisioningResponder;
  const hookEvents: PreProvisioningHookEvent[] = [];

  beforeAll(async () => {
    env = await createTestEnv();
    responder = await ProvisioningResponder.start({
      broker: env.broker,
      templateName: env.templateName,
      claimCertificatePem: env.claim.certPem,
      preProvisioningHook: (event) => {
        hookEvents.push(event);
        return { allowProvisioning: true };
      },
    });
  });

  afterAll(async () => {
    await responder?.close();
    await env?.close();
  });

  it("GIVEN four devices and a snooping claim client WHEN the devices provision concurrently THEN each gets only its own answers", async () => {
    // GIVEN: a claim client on its own gateway and one directly on the broker, both listening to every
    // provisioning answer topic the claim policy allows
    const overheard: string[] = [];
    const snoopGateway = await env.broker.startClaimGateway();
    const snoopers: MqttTestClient[] = [];
    for (const port of [snoopGateway.port, env.broker.port]) {
      const snooper = await MqttTestClient.connect({
        host: "127.0.0.1",
        port,
        caPem: env.ca.certPem,
        credentials: env.claim,
        clientId: `provision-snoop-${port}`,
      });
      snooper.onMessage((topic) => overheard.push(topic));
      await snooper.subscribe([
        "$aws/certificates/create-from-csr/json/accepted",
        "$aws/certificates/create-from-csr/json/rejected",
        `$aws/provisioning-templates/${env.templateName}/provision/json/accepted`,
        `$aws/provisioning-templates/${env.templateName}/provision/json/rejected`,
      ]);
      snoopers.push(snooper);
    }
    const serials = ["crosstalk001", "crosstalk002", "crosstalk003", "crosstalk004"];
    const devices = await Promise.all(
      serials.map(async (serialNumber) => {
        const gateway = await env.broker.startClaimGateway();
        const { config } = await env.freshDevice(serialNumber, { serialNumber, provisioningPort: gateway.port });
        return { serialNumber, config };
      }),
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
    expect(hookEvents.map((e) => [e.parameters.SerialNumber, e.clientId]).sort()).toEqual(serials.map((s) => [s, `provision-${s}`]));
    // and no other claim connection received any of the answers
    expect(overheard).toEqual([]);
    await Promise.all(snoopers.map((s) => s.close()));
  });

  it("fails RegisterThing with InvalidCertificateOwnershipToken WHEN a token issued to one device is replayed through another gateway", async () => {
    // GIVEN a certificate created through gateway A
    const [a, b] = [await env.broker.startClaimGateway(), await env.broker.startClaimGateway()];
    const connect = (port: number, clientId: string) =>
      MqttTestClient.connect({ host: "127.0.0.1", port, caPem: env.ca.certPem, credentials: env.claim, clientId });
    const clientA = await connect(a.port, "provision-replay-a");
    const clientB = await connect(b.port, "provision-replay-b");
    const answers: Array<{ topic: string; body: any }> = []; // eslint-disable-line @typescript-eslint/no-explicit-any
    for (const c of [clientA, clientB]) c.onMessage((topic, payload) => answers.push({ topic, body: JSON.parse(payload.toString()) }));
    await clientA.subscribe(["$aws/certificates/create/json/accepted"]);
    await clientB.subscribe([`$aws/provisioning-templates/${env.templateName}/provision/json/rejected`]);
    await clientA.publish("$aws/certificates/create/json", {});
    const created = await waitForAnswer(answers, "$aws/certificates/create/json/accepted");

    // WHEN device B presents A's token
    await clientB.publish(`$aws/provisioning-templates/${env.templateName}/provision/json`, {
      certificateOwnershipToken: created.certificateOwnershipToken,
      parameters: { SerialNumber: "replay-a", DeviceType: "thermostat" },
    });

    // THEN
    const rejected = await waitForAnswer(answers, `$aws/provisioning-templates/${env.templateName}/provision/json/rejected`);
    expect(rejected).toEqual({ statusCode: 400, errorCode: "InvalidCertificateOwnershipToken", errorMessage: expect.any(String) });
    await clientA.close();
    await clientB.close();
  });

  it("GIVEN a registered thing WHEN the device retries RegisterThing with the same ownership token (lost answer) THEN it is accepted again for the same certificate", async () => {
    // GIVEN a certificate and a first, accepted RegisterThing
    const gateway = await env.broker.startClaimGateway();
    const client = await MqttTestClient.connect({ host: "127.0.0.1", port: gateway.port, caPem: env.ca.certPem, credentials: env.claim, clientId: "provision-retry0001" });
    const answers: Array<{ topic: string; body: any }> = []; // eslint-disable-line @typescript-eslint/no-explicit-any
    client.onMessage((topic, payload) => answers.push({ topic, body: JSON.parse(payload.toString()) }));
    const registerTopic = `$aws/provisioning-templates/${env.templateName}/provision/json`;
    await client.subscribe(["$aws/certificates/create/json/accepted", `${registerTopic}/accepted`, `${registerTopic}/rejected`]);
    await client.publish("$aws/certificates/create/json", {});
    const created = await waitForAnswer(answers, "$aws/certificates/create/json/accepted");
    const request = { certificateOwnershipToken: created.certificateOwnershipToken, parameters: { SerialNumber: "retry0001", DeviceType: "thermostat" } };
    await client.publish(registerTopic, request);
    await waitForAnswer(answers, `${registerTopic}/accepted`);
    answers.length = 0;

    // WHEN the device sends the same request again
    await client.publish(registerTopic, request);

    // THEN it is accepted, and the hook was asked twice about the same certificate
    expect(await waitForAnswer(answers, `${registerTopic}/accepted`)).toMatchObject({ thingName: "retry0001" });
    expect(answers.filter((a) => a.topic.endsWith("/rejected"))).toEqual([]);
    const asked = hookEvents.filter((e) => e.parameters.SerialNumber === "retry0001").map((e) => e.certificateId);
    expect(asked).toEqual([created.certificateId, created.certificateId]);
    await client.close();
  });
});

async function waitForAnswer(answers: Array<{ topic: string; body: any }>, topic: string): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const deadline = Date.now() + 15_000;
  for (;;) {
    const hit = answers.find((a) => a.topic === topic);
    if (hit) return hit.body;
    if (Date.now() > deadline) throw new Error(`no answer on ${topic}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
