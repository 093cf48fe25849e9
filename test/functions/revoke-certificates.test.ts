/**
 * The certificate revoker against dynalite (the registry) and the twin's IoT control-plane stand-in
 * (real @aws-sdk/client-iot requests). dynalite has no streams: each test feeds the stream record the
 * table change would produce, and asserts the IoT requests it caused.
 */
import { IoTClient } from "@aws-sdk/client-iot";
import { marshall } from "@aws-sdk/util-dynamodb";
import type { DynamoDBRecord, DynamoDBStreamEvent, DynamoDBBatchResponse } from "aws-lambda";
import { FAKE_AWS_ENV } from "../../local/dynamo";
import { IotControlPlane } from "../../local/iot-core/control-plane";
import { REVOKE_CERTIFICATES } from "../../functions/revoke-certificates/contract";
import { applyChange, revocationReason, type RegistryChange, type RevokeDeps } from "../../functions/revoke-certificates/revoke";
import { createLogger } from "../../functions/shared/log";
import type { RegistryItem } from "../../functions/shared/registry";
import { startDynalite, type RunningDynalite } from "../support/dynalite";
import { PlaneFixture, names, provisionDevice, startPlane } from "../local/iot-core/identity-fixture";
import { documentClient, loadWith, putItem, registeredDevice } from "./helpers";

jest.setTimeout(60_000);

type Handler = (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse>;

describe("revoke-certificates", () => {
  let f: PlaneFixture;
  let cp: IotControlPlane;
  let db: RunningDynalite;
  let iot: IoTClient;
  /** `<Command> <key input>` of every request the IoT client sent, in order. */
  let requests: string[];
  let serialCounter = 0;

  const region = () => f.plane.registry.arn("").split(":")[3];
  const certArn = (id: string) => f.plane.registry.certificateArn(id);
  const certStatus = (id: string) => f.plane.registry.requireCertificate(id).status;
  const policiesOf = (id: string) => f.plane.registry.attachedPolicies(certArn(id)).map((p) => p.policyName);
  const nextSerial = (label: string) => `SN-${label}-${++serialCounter}`;

  beforeAll(async () => {
    f = await startPlane();
    cp = await IotControlPlane.start({ registry: f.plane.registry });
    db = await startDynalite();
    iot = new IoTClient({
      endpoint: cp.endpoint,
      region: region(),
      credentials: { accessKeyId: FAKE_AWS_ENV.AWS_ACCESS_KEY_ID!, secretAccessKey: FAKE_AWS_ENV.AWS_SECRET_ACCESS_KEY! },
      maxAttempts: 1,
    });
    iot.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as Record<string, unknown>;
        const key = input.certificateId ?? input.policyName ?? input.thingName ?? input.target ?? "";
        requests.push(`${context.commandName} ${String(key)}`.trim());
        return next(args);
      },
      { step: "initialize", name: "recordRequests" },
    );
  });

  beforeEach(() => {
    requests = [];
  });

  afterAll(async () => {
    iot?.destroy();
    await cp?.close();
    await db?.stop();
    f?.close();
  });

  function deps(): RevokeDeps {
    return {
      iot,
      ddb: documentClient(db.client),
      tableName: db.registryTableName,
      namePrefix: names.namePattern.replace(/-\*$/, ""),
      logger: createLogger({ service: "test" }, { level: "silent" }),
    };
  }

  /** A provisioned device: its thing and ACTIVE certificate in IoT, its PROVISIONED row in dynalite. */
  async function provisioned(label: string): Promise<{ serial: string; certificateId: string; row: RegistryItem }> {
    const serial = nextSerial(label);
    const certificateId = await provisionDevice(f, serial);
    const row = registeredDevice(serial, { status: "PROVISIONED", certificateId }) as unknown as RegistryItem;
    await putItem(db.client, db.registryTableName, row as unknown as Record<string, unknown>);
    return { serial, certificateId, row };
  }

  const modify = (oldImage: Partial<RegistryItem>, newImage: Partial<RegistryItem>): RegistryChange => ({ eventName: "MODIFY", oldImage, newImage });

  describe("a device revoked", () => {
    it("GIVEN a provisioned device WHEN its row becomes REVOKED THEN its certificate is revoked, detached from its policy and its thing, in that order", async () => {
      const { serial, certificateId, row } = await provisioned("REVOKE");
      const revokedRow = { ...row, status: "REVOKED" as const, revokedAt: new Date().toISOString() };
      await putItem(db.client, db.registryTableName, revokedRow as unknown as Record<string, unknown>);

      const outcome = await applyChange(deps(), modify(row, revokedRow));

      expect(outcome).toEqual({ thingName: serial, revoked: [certificateId], kept: [] });
      expect(requests).toEqual([
        `ListThingPrincipalsCommand ${serial}`,
        `UpdateCertificateCommand ${certificateId}`,
        `ListAttachedPoliciesCommand ${certArn(certificateId)}`,
        `DetachPolicyCommand ${names.devicePolicy}`,
        `DetachThingPrincipalCommand ${serial}`,
      ]);
      expect(certStatus(certificateId)).toBe("REVOKED");
      expect(policiesOf(certificateId)).toEqual([]);
      expect(f.plane.registry.thingPrincipals(serial)).toEqual([]);
    });

    it("GIVEN a revocation already applied WHEN the same record is replayed THEN it succeeds and only lists the thing's (now no) principals", async () => {
      const { serial, certificateId, row } = await provisioned("REPLAY");
      const revokedRow = { ...row, status: "REVOKED" as const };
      await putItem(db.client, db.registryTableName, revokedRow as unknown as Record<string, unknown>);
      await applyChange(deps(), modify(row, revokedRow));
      requests = [];

      const outcome = await applyChange(deps(), modify(row, revokedRow));

      expect(outcome).toEqual({ thingName: serial, revoked: [], kept: [] });
      expect(requests).toEqual([`ListThingPrincipalsCommand ${serial}`]);
      expect(certStatus(certificateId)).toBe("REVOKED");
    });

    it("GIVEN a device with two certificates (mid-rotation) WHEN it is revoked THEN both are revoked", async () => {
      const { serial, certificateId, row } = await provisioned("TWO-CERTS");
      // A second provisioning of the same serial attaches a second certificate to the same thing.
      const second = await provisionDevice(f, serial);
      const revokedRow = { ...row, status: "REVOKED" as const };
      await putItem(db.client, db.registryTableName, revokedRow as unknown as Record<string, unknown>);

      const outcome = await applyChange(deps(), modify(row, revokedRow));

      expect(outcome?.revoked.sort()).toEqual([certificateId, second].sort());
      expect([certStatus(certificateId), certStatus(second)]).toEqual(["REVOKED", "REVOKED"]);
    });

    it("GIVEN a revoked row that was never provisioned (no thing) WHEN handled THEN it succeeds with nothing to revoke", async () => {
      const serial = nextSerial("NO-THING");
      const row = registeredDevice(serial) as unknown as RegistryItem;
      const revokedRow = { ...row, status: "REVOKED" as const };
      await putItem(db.client, db.registryTableName, revokedRow as unknown as Record<string, unknown>);

      await expect(applyChange(deps(), modify(row, revokedRow))).resolves.toEqual({ thingName: serial, revoked: [], kept: [] });
    });
  });

  describe("a rotation completed", () => {
    it("GIVEN a thing with its old and its rotated-to certificate WHEN the new one connected (rotation completed) THEN only the old one is revoked", async () => {
      const { serial, certificateId: oldId, row } = await provisioned("ROTATED");
      const newId = await provisionDevice(f, serial);
      const rotating = { ...row, certificateId: newId, rotatedFromCertificateId: oldId };
      const completed = { ...row, certificateId: newId, revokeCertificatesRequestedAt: new Date().toISOString() };
      await putItem(db.client, db.registryTableName, completed as unknown as Record<string, unknown>);

      const change = modify(rotating, completed);
      expect(revocationReason(change)).toBe("rotated");
      const outcome = await applyChange(deps(), change);

      expect(outcome).toEqual({ thingName: serial, revoked: [oldId], kept: [newId] });
      expect([certStatus(oldId), certStatus(newId)]).toEqual(["REVOKED", "ACTIVE"]);
      expect(f.plane.registry.thingPrincipals(serial)).toEqual([certArn(newId)]);
    });
  });

  describe("changes that do not ask for revocation", () => {
    it("GIVEN a provisioned device WHEN a lifecycle update changes only connected/lastSeen THEN no IoT request is made", async () => {
      const { row, certificateId } = await provisioned("LIFECYCLE");

      const outcome = await applyChange(deps(), modify(row, { ...row, connected: true, lastSeen: 1 }));

      expect(outcome).toBeUndefined();
      expect(requests).toEqual([]);
      expect(certStatus(certificateId)).toBe("ACTIVE");
    });

    it("GIVEN an already revoked row WHEN another attribute changes THEN no IoT request is made", async () => {
      const row = registeredDevice(nextSerial("STILL-REVOKED"), { status: "REVOKED" }) as unknown as RegistryItem;

      await expect(applyChange(deps(), modify(row, { ...row, updatedAt: "later" }))).resolves.toBeUndefined();
      expect(requests).toEqual([]);
    });
  });

  describe("hostile and late records", () => {
    it("GIVEN a re-provision request WHEN the device already provisioned again before the record ran THEN only the old certificate is revoked", async () => {
      const { serial, certificateId: oldCertificate, row } = await provisioned("REPROVISION");
      const requested = { ...row, status: "REGISTERED" as const, certificateId: undefined, revokeCertificatesRequestedAt: new Date().toISOString() };
      const newCertificate = await provisionDevice(f, serial);
      await putItem(db.client, db.registryTableName, { ...requested, status: "PROVISIONED", certificateId: newCertificate } as unknown as Record<
        string,
        unknown
      >);

      const outcome = await applyChange(deps(), modify(row, requested));

      expect(outcome).toEqual({ thingName: serial, revoked: [oldCertificate], kept: [newCertificate] });
      expect(certStatus(oldCertificate)).toBe("REVOKED");
      expect(certStatus(newCertificate)).toBe("ACTIVE");
      expect(f.plane.registry.thingPrincipals(serial)).toEqual([certArn(newCertificate)]);
    });

    it("GIVEN a re-provision request WHEN the device has not provisioned again THEN every certificate of the thing is revoked", async () => {
      const { serial, certificateId, row } = await provisioned("REPROVISION-WAIT");
      const requested = { ...row, status: "REGISTERED" as const, certificateId: undefined, revokeCertificatesRequestedAt: new Date().toISOString() };
      await putItem(db.client, db.registryTableName, requested as unknown as Record<string, unknown>);

      const outcome = await applyChange(deps(), modify(row, requested));

      expect(outcome).toEqual({ thingName: serial, revoked: [certificateId], kept: [] });
    });

    it("GIVEN a stale REVOKED record replayed after the serial was provisioned again THEN the certificate the row holds now stays ACTIVE", async () => {
      const { serial, certificateId, row } = await provisioned("STALE");

      const outcome = await applyChange(deps(), modify({ ...row, status: "PROVISIONING" }, { ...row, status: "REVOKED" }));

      expect(outcome).toEqual({ thingName: serial, revoked: [], kept: [certificateId] });
      expect(certStatus(certificateId)).toBe("ACTIVE");
    });

    it("GIVEN a row written around the API that names the controller's thing WHEN it becomes REVOKED THEN no IoT request is made and the controller stays ACTIVE", async () => {
      const row = registeredDevice(names.controllerThing, { thingName: names.controllerThing, status: "PROVISIONED" }) as unknown as RegistryItem;

      const outcome = await applyChange(deps(), modify(row, { ...row, status: "REVOKED" }));

      expect(outcome).toEqual({ thingName: names.controllerThing, revoked: [], kept: [] });
      expect(requests).toEqual([]);
      expect(certStatus(f.controllerCertificateId)).toBe("ACTIVE");
    });

    it("GIVEN a row whose serial is reserved but whose thingName points at another device WHEN it becomes REVOKED THEN nothing is revoked", async () => {
      const victim = await provisioned("VICTIM");
      const row = registeredDevice(`provision-${victim.serial}`, { thingName: victim.serial }) as unknown as RegistryItem;

      await applyChange(deps(), modify(row, { ...row, status: "REVOKED" }));

      expect(requests).toEqual([]);
      expect(certStatus(victim.certificateId)).toBe("ACTIVE");
    });
  });

  describe("handler (stream event in, batch failures out)", () => {
    function record(sequenceNumber: string, oldImage: Partial<RegistryItem>, newImage: Partial<RegistryItem>): DynamoDBRecord {
      return {
        eventID: `event-${sequenceNumber}`,
        eventName: "MODIFY",
        eventSource: "aws:dynamodb",
        dynamodb: {
          SequenceNumber: sequenceNumber,
          Keys: marshall({ serialNumber: newImage.serialNumber }) as never,
          OldImage: marshall(oldImage, { removeUndefinedValues: true }) as never,
          NewImage: marshall(newImage, { removeUndefinedValues: true }) as never,
          StreamViewType: "NEW_AND_OLD_IMAGES",
        },
      };
    }

    function loadHandler(iotEndpoint: string): Handler {
      return loadWith<{ handler: Handler }>("../../functions/revoke-certificates", {
        ...FAKE_AWS_ENV,
        AWS_REGION: region(),
        AWS_ENDPOINT_URL_IOT: iotEndpoint,
        [REVOKE_CERTIFICATES.env.registryTableName]: db.registryTableName,
        [REVOKE_CERTIFICATES.env.namePrefix]: names.namePattern.replace(/-\*$/, ""),
        LOG_LEVEL: "silent",
      }).mod.handler;
    }

    it("GIVEN a stream record of a revoked device WHEN the handler runs THEN the certificate is REVOKED through AWS_ENDPOINT_URL_IOT and no item fails", async () => {
      const { certificateId, row } = await provisioned("HANDLER");
      const revokedRow = { ...row, status: "REVOKED" as const };
      await putItem(db.client, db.registryTableName, revokedRow as unknown as Record<string, unknown>);

      const result = await loadHandler(cp.endpoint)({ Records: [record("100", row, revokedRow)] });

      expect(result).toEqual({ batchItemFailures: [] });
      expect(certStatus(certificateId)).toBe("REVOKED");
    });

    it("fails when IoT is unreachable: the first failing record is reported and the ones after it are not applied", async () => {
      const first = await provisioned("DOWN-1");
      const second = await provisioned("DOWN-2");
      const revoked = (r: RegistryItem) => ({ ...r, status: "REVOKED" as const });
      for (const r of [first.row, second.row]) await putItem(db.client, db.registryTableName, revoked(r) as unknown as Record<string, unknown>);
      const closed = await IotControlPlane.start({ registry: f.plane.registry });
      const deadEndpoint = closed.endpoint;
      await closed.close();

      const result = await loadHandler(deadEndpoint)({
        Records: [record("200", first.row, revoked(first.row)), record("201", second.row, revoked(second.row))],
      });

      expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: "200" }] });
      expect([certStatus(first.certificateId), certStatus(second.certificateId)]).toEqual(["ACTIVE", "ACTIVE"]);
    });
  });
});
