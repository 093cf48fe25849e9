/**
 * The IoT control-plane stand-in answers the REAL `@aws-sdk/client-iot` client: each served operation,
 * its refusals as the SDK's typed exceptions, and the events it causes.
 */
import {
  AttachPolicyCommand,
  AttachThingPrincipalCommand,
  CertificateStateException,
  DeleteCertificateCommand,
  DeleteConflictException,
  DeleteThingCommand,
  DescribeCertificateCommand,
  DescribeThingCommand,
  DetachPolicyCommand,
  DetachThingPrincipalCommand,
  GetPolicyCommand,
  InvalidRequestException,
  IoTClient,
  ListAttachedPoliciesCommand,
  ListCertificatesCommand,
  ListPrincipalThingsCommand,
  ListTargetsForPolicyCommand,
  ListThingPrincipalsCommand,
  ListThingsCommand,
  ResourceNotFoundException,
  UpdateCertificateCommand,
} from "@aws-sdk/client-iot";
import { request } from "node:http";
import { FAKE_AWS_ENV } from "../../../local/dynamo";
import { IotControlPlane } from "../../../local/iot-core/control-plane";
import { PlaneFixture, names, provisionDevice, startPlane } from "./identity-fixture";

const MISSING_ID = "f".repeat(64);

describe("IotControlPlane with @aws-sdk/client-iot", () => {
  let f: PlaneFixture;
  let cp: IotControlPlane;
  let iot: IoTClient;
  let sn1: string;
  const arnOf = (id: string) => f.plane.registry.certificateArn(id);

  beforeAll(async () => {
    f = await startPlane();
    cp = await IotControlPlane.start({ registry: f.plane.registry });
    iot = new IoTClient({
      endpoint: cp.endpoint,
      region: f.plane.registry.arn("").split(":")[3],
      credentials: { accessKeyId: FAKE_AWS_ENV.AWS_ACCESS_KEY_ID!, secretAccessKey: FAKE_AWS_ENV.AWS_SECRET_ACCESS_KEY! },
      maxAttempts: 1,
    });
    sn1 = await provisionDevice(f, "SN-1");
  });

  afterAll(async () => {
    iot?.destroy();
    await cp?.close();
    f?.close();
  });

  describe("certificates", () => {
    it("GIVEN a provisioned device WHEN DescribeCertificate THEN it is ACTIVE with its PEM, ARN and validity", async () => {
      const { certificateDescription: d } = await iot.send(new DescribeCertificateCommand({ certificateId: sn1 }));
      expect(d).toMatchObject({
        certificateId: sn1,
        certificateArn: arnOf(sn1),
        status: "ACTIVE",
        certificatePem: f.plane.describeCertificate(sn1)!.certificatePem,
      });
      expect(d!.validity!.notAfter!.getTime()).toBeGreaterThan(d!.validity!.notBefore!.getTime());
    });

    it("fails when DescribeCertificate names an unknown certificate (ResourceNotFoundException)", async () => {
      await expect(iot.send(new DescribeCertificateCommand({ certificateId: MISSING_ID }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    });

    it("fails when a certificate id is not 64 hex characters (InvalidRequestException)", async () => {
      await expect(iot.send(new DescribeCertificateCommand({ certificateId: "not-an-id" }))).rejects.toBeInstanceOf(InvalidRequestException);
    });

    it("GIVEN certificates WHEN ListCertificates with a page size of 1 THEN the pages together list every certificate once", async () => {
      const seen: string[] = [];
      let marker: string | undefined;
      do {
        const page = await iot.send(new ListCertificatesCommand({ pageSize: 1, marker }));
        seen.push(...page.certificates!.map((c) => c.certificateId!));
        marker = page.nextMarker;
      } while (marker);
      expect(seen.sort()).toEqual(
        f.plane.registry
          .listCertificates()
          .map((c) => c.certificateId)
          .sort(),
      );
    });

    it("GIVEN an active certificate WHEN UpdateCertificate REVOKED THEN it is revoked and certificate-status is emitted", async () => {
      const id = await provisionDevice(f, "SN-REVOKE");
      const events: [string, string][] = [];
      f.plane.on("certificate-status", (cid, status) => events.push([cid, status]));
      await iot.send(new UpdateCertificateCommand({ certificateId: id, newStatus: "REVOKED" }));
      expect([f.plane.describeCertificate(id)!.status, events]).toEqual(["REVOKED", [[id, "REVOKED"]]]);
    });

    it("fails when UpdateCertificate tries to reactivate a revoked certificate (CertificateStateException)", async () => {
      const id = await provisionDevice(f, "SN-REVOKED-2");
      await iot.send(new UpdateCertificateCommand({ certificateId: id, newStatus: "REVOKED" }));
      await expect(iot.send(new UpdateCertificateCommand({ certificateId: id, newStatus: "ACTIVE" }))).rejects.toBeInstanceOf(CertificateStateException);
    });

    it("fails when UpdateCertificate sets PENDING_ACTIVATION (InvalidRequestException)", async () => {
      await expect(iot.send(new UpdateCertificateCommand({ certificateId: sn1, newStatus: "PENDING_ACTIVATION" }))).rejects.toBeInstanceOf(
        InvalidRequestException,
      );
    });

    it("fails when DeleteCertificate names an ACTIVE certificate (CertificateStateException)", async () => {
      await expect(iot.send(new DeleteCertificateCommand({ certificateId: sn1 }))).rejects.toBeInstanceOf(CertificateStateException);
    });

    it("fails when DeleteCertificate names an inactive certificate still attached to a thing (DeleteConflictException)", async () => {
      const id = await provisionDevice(f, "SN-DEL-1");
      await iot.send(new UpdateCertificateCommand({ certificateId: id, newStatus: "INACTIVE" }));
      await expect(iot.send(new DeleteCertificateCommand({ certificateId: id }))).rejects.toBeInstanceOf(DeleteConflictException);
    });

    it("GIVEN an inactive certificate detached from its thing WHEN DeleteCertificate with forceDelete THEN it is gone", async () => {
      const id = await provisionDevice(f, "SN-DEL-2");
      await iot.send(new UpdateCertificateCommand({ certificateId: id, newStatus: "INACTIVE" }));
      await iot.send(new DetachThingPrincipalCommand({ thingName: "SN-DEL-2", principal: arnOf(id) }));
      await iot.send(new DeleteCertificateCommand({ certificateId: id, forceDelete: true }));
      expect(f.plane.describeCertificate(id)).toBeUndefined();
    });
  });

  describe("things and principals", () => {
    it("GIVEN a provisioned device WHEN DescribeThing THEN it has the template's type and attributes", async () => {
      const thing = await iot.send(new DescribeThingCommand({ thingName: "SN-1" }));
      expect(thing).toMatchObject({
        thingName: "SN-1",
        defaultClientId: "SN-1",
        thingTypeName: names.deviceTypeThing("thermostat"),
        attributes: { serialNumber: "SN-1", deviceType: "thermostat" },
        version: 1,
      });
    });

    it("fails when DescribeThing names an unknown thing (ResourceNotFoundException)", async () => {
      await expect(iot.send(new DescribeThingCommand({ thingName: "SN-NONE" }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    });

    it("GIVEN things WHEN ListThings filters by thing type THEN only things of that type come back", async () => {
      const { things } = await iot.send(new ListThingsCommand({ thingTypeName: names.deviceTypeThing("thermostat") }));
      expect(things!.map((t) => t.thingName)).toContain("SN-1");
      expect(things!.map((t) => t.thingName)).not.toContain(names.controllerThing);
    });

    it("GIVEN a device WHEN ListThingPrincipals and ListPrincipalThings THEN each names the other", async () => {
      const [{ principals }, { things }] = await Promise.all([
        iot.send(new ListThingPrincipalsCommand({ thingName: "SN-1" })),
        iot.send(new ListPrincipalThingsCommand({ principal: arnOf(sn1) })),
      ]);
      expect([principals, things]).toEqual([[arnOf(sn1)], ["SN-1"]]);
    });

    it("fails when ListThingPrincipals names an unknown thing (ResourceNotFoundException)", async () => {
      await expect(iot.send(new ListThingPrincipalsCommand({ thingName: "SN-NONE" }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    });

    it("fails when ListPrincipalThings names an unknown certificate (ResourceNotFoundException)", async () => {
      await expect(iot.send(new ListPrincipalThingsCommand({ principal: arnOf(MISSING_ID) }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    });

    it("GIVEN a thing WHEN DetachThingPrincipal then AttachThingPrincipal THEN thing-principal events report both", async () => {
      const events: [string, string, boolean][] = [];
      f.plane.on("thing-principal", (thing, cid, attached) => events.push([thing, cid, attached]));
      await iot.send(new DetachThingPrincipalCommand({ thingName: "SN-1", principal: arnOf(sn1) }));
      await iot.send(new AttachThingPrincipalCommand({ thingName: "SN-1", principal: arnOf(sn1) }));
      expect(events).toEqual([
        ["SN-1", sn1, false],
        ["SN-1", sn1, true],
      ]);
    });

    it("fails when AttachThingPrincipal names an unknown certificate (ResourceNotFoundException)", async () => {
      await expect(iot.send(new AttachThingPrincipalCommand({ thingName: "SN-1", principal: arnOf(MISSING_ID) }))).rejects.toBeInstanceOf(
        ResourceNotFoundException,
      );
    });

    it("fails when DeleteThing names a thing with principals attached (InvalidRequestException)", async () => {
      await expect(iot.send(new DeleteThingCommand({ thingName: "SN-1" }))).rejects.toMatchObject({
        name: "InvalidRequestException",
        message: expect.stringMatching(/still attached to one or more principals/),
      });
    });

    it("GIVEN a thing without principals WHEN DeleteThing THEN it is gone", async () => {
      const id = await provisionDevice(f, "SN-GONE");
      await iot.send(new DetachThingPrincipalCommand({ thingName: "SN-GONE", principal: arnOf(id) }));
      await iot.send(new DeleteThingCommand({ thingName: "SN-GONE" }));
      await expect(iot.send(new DescribeThingCommand({ thingName: "SN-GONE" }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    });
  });

  describe("policies", () => {
    it("GIVEN the synthesized device policy WHEN GetPolicy THEN its document is the synthesized one", async () => {
      const policy = await iot.send(new GetPolicyCommand({ policyName: names.devicePolicy }));
      expect(policy.policyDocument).toBe(f.plane.registry.getPolicy(names.devicePolicy)!.policyDocument);
    });

    it("fails when GetPolicy names an unknown policy (ResourceNotFoundException)", async () => {
      await expect(iot.send(new GetPolicyCommand({ policyName: "no-such-policy" }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    });

    it("GIVEN a provisioned device WHEN ListAttachedPolicies THEN it has the device policy", async () => {
      const { policies } = await iot.send(new ListAttachedPoliciesCommand({ target: arnOf(sn1) }));
      expect(policies!.map((p) => p.policyName)).toEqual([names.devicePolicy]);
    });

    it("GIVEN the claim policy WHEN ListTargetsForPolicy THEN its only target is the claim certificate", async () => {
      const { targets } = await iot.send(new ListTargetsForPolicyCommand({ policyName: names.claimPolicy }));
      expect(targets).toEqual([arnOf(f.claimCertificateId)]);
    });

    it("GIVEN a device certificate WHEN DetachPolicy THEN it can no longer publish, and AttachPolicy restores it", async () => {
      const publish = () => f.plane.authorize({ action: "iot:Publish", resource: "devices/SN-1/telemetry", clientId: "SN-1", certificateId: sn1 }).allowed;
      await iot.send(new DetachPolicyCommand({ policyName: names.devicePolicy, target: arnOf(sn1) }));
      const detached = publish();
      await iot.send(new AttachPolicyCommand({ policyName: names.devicePolicy, target: arnOf(sn1) }));
      expect([detached, publish()]).toEqual([false, true]);
    });

    it("fails when AttachPolicy names an unknown policy (ResourceNotFoundException)", async () => {
      await expect(iot.send(new AttachPolicyCommand({ policyName: "no-such-policy", target: arnOf(sn1) }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    });
  });

  it("GIVEN AWS_ENDPOINT_URL_IOT pointing at the stand-in WHEN a client is built without an endpoint THEN it reaches the stand-in", async () => {
    const saved = process.env.AWS_ENDPOINT_URL_IOT;
    process.env.AWS_ENDPOINT_URL_IOT = cp.endpoint;
    const fromEnv = new IoTClient({
      region: "eu-west-1",
      credentials: { accessKeyId: FAKE_AWS_ENV.AWS_ACCESS_KEY_ID!, secretAccessKey: FAKE_AWS_ENV.AWS_SECRET_ACCESS_KEY! },
      maxAttempts: 1,
    });
    try {
      expect((await fromEnv.send(new DescribeThingCommand({ thingName: "SN-1" }))).thingName).toBe("SN-1");
    } finally {
      fromEnv.destroy();
      if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_IOT;
      else process.env.AWS_ENDPOINT_URL_IOT = saved;
    }
  });

  /** A raw HTTP call, for what the SDK would never send. */
  const raw = (method: string, path: string, headers: Record<string, string>, body?: string) =>
    new Promise<{ status: number; errorType?: string }>((resolve, reject) => {
      request(new URL(path, cp.endpoint), { method, headers }, (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, errorType: res.headers["x-amzn-errortype"] as string | undefined });
      })
        .on("error", reject)
        .end(body);
    });

  it("fails when a request carries no Authorization header (403, as an unsigned request on AWS)", async () => {
    expect(await raw("GET", `/certificates/${sn1}`, {})).toEqual({ status: 403, errorType: "MissingAuthenticationTokenException" });
  });

  it("fails when AttachPolicy's body is not JSON: 400 InvalidRequestException and nothing is attached", async () => {
    const before = f.plane.registry.targetsForPolicy(names.controllerPolicy);
    const answer = await raw(
      "PUT",
      `/target-policies/${names.controllerPolicy}`,
      { authorization: "AWS4-HMAC-SHA256 test", "content-type": "application/json" },
      `{"target": "${arnOf(sn1)}"`,
    );
    expect([answer, f.plane.registry.targetsForPolicy(names.controllerPolicy)]).toEqual([{ status: 400, errorType: "InvalidRequestException" }, before]);
  });

  it("fails when an operation is not served: 404 UnknownOperationException", async () => {
    expect(await raw("POST", "/things/SN-1", { authorization: "AWS4-HMAC-SHA256 test" })).toEqual({ status: 404, errorType: "UnknownOperationException" });
  });
});
