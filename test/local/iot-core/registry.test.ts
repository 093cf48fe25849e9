/**
 * The twin's IoT registry on its own: AWS's data rules, events, and persistence in its work dir.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { IotError } from "../../../local/iot-core/iot-errors";
import { IotRegistry } from "../../../local/iot-core/registry";
import { LocalCa } from "../../../local/pki";
import { PlaneFixture, provisionDevice, startPlane } from "./identity-fixture";

const WHERE = { region: "eu-west-1", accountId: "111111111111" };

describe("IotRegistry", () => {
  let workDir: string;
  let ca: LocalCa;
  let registry: IotRegistry;

  beforeAll(async () => {
    ca = await LocalCa.create();
  });

  beforeEach(() => {
    workDir = mkdtempSync(path.join(tmpdir(), "shf-registry-"));
    registry = IotRegistry.open({ workDir, ...WHERE });
    registry.defineThingType("shf-dev-thermostat");
  });

  afterEach(() => rmSync(workDir, { recursive: true, force: true }));

  const certificate = async (status: "ACTIVE" | "PENDING_ACTIVATION" = "ACTIVE") =>
    registry.addCertificate((await ca.issueClientCertificate("x")).certPem, status);

  it("GIVEN a certificate WHEN added THEN its id is the hex SHA-256 of its DER and its ARN is in the account", async () => {
    const issued = await ca.issueClientCertificate("x");
    const record = registry.addCertificate(issued.certPem, "PENDING_ACTIVATION");
    expect([record.certificateId, record.certificateArn]).toEqual([issued.certificateId, `arn:aws:iot:eu-west-1:111111111111:cert/${issued.certificateId}`]);
  });

  it("fails when the same certificate is added twice (ResourceAlreadyExistsException)", async () => {
    const issued = await ca.issueClientCertificate("x");
    registry.addCertificate(issued.certPem, "ACTIVE");
    expect(() => registry.addCertificate(issued.certPem, "ACTIVE")).toThrow(expect.objectContaining({ code: "ResourceAlreadyExistsException" }));
  });

  it("GIVEN registry contents WHEN the registry is reopened from its work dir THEN certificates, things and attachments are back", async () => {
    const cert = await certificate();
    registry.putThing({ thingName: "SN-1", thingTypeName: "shf-dev-thermostat", attributes: { a: "1" } });
    registry.attachThingPrincipal("SN-1", cert.certificateArn);
    const reopened = IotRegistry.open({ workDir, ...WHERE });
    expect([reopened.getCertificate(cert.certificateId)?.status, reopened.getThing("SN-1")?.attributes, reopened.thingPrincipals("SN-1")]).toEqual([
      "ACTIVE",
      { a: "1" },
      [cert.certificateArn],
    ]);
  });

  it("GIVEN many writes WHEN they are done THEN only the registry file remains, readable by its owner only", async () => {
    await certificate();
    registry.putThing({ thingName: "SN-1" });
    const files = readdirSync(workDir);
    expect([files, statSync(path.join(workDir, files[0]!)).mode & 0o777]).toEqual([["iot-registry.json"], 0o600]);
  });

  it("GIVEN a status change WHEN the status is set again to the same value THEN certificate-status is emitted once", async () => {
    const cert = await certificate();
    const seen: string[] = [];
    registry.on("certificate-status", (_id, status) => seen.push(status));
    registry.setCertificateStatus(cert.certificateId, "INACTIVE");
    registry.setCertificateStatus(cert.certificateId, "INACTIVE");
    expect(seen).toEqual(["INACTIVE"]);
  });

  it("GIVEN an attachment WHEN it is attached again THEN thing-principal is emitted once and listed once", async () => {
    const cert = await certificate();
    registry.putThing({ thingName: "SN-1" });
    const seen: boolean[] = [];
    registry.on("thing-principal", (_t, _c, attached) => seen.push(attached));
    registry.attachThingPrincipal("SN-1", cert.certificateArn);
    registry.attachThingPrincipal("SN-1", cert.certificateArn);
    expect([seen, registry.thingPrincipals("SN-1")]).toEqual([[true], [cert.certificateArn]]);
  });

  it("GIVEN a listener that throws WHEN a status changes THEN the change is kept and later listeners still run", async () => {
    const cert = await certificate();
    const seen: string[] = [];
    const warn = jest.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    registry.on("certificate-status", () => {
      throw new Error("listener bug");
    });
    registry.on("certificate-status", (_id, status) => seen.push(status));
    try {
      registry.setCertificateStatus(cert.certificateId, "REVOKED");
    } finally {
      warn.mockRestore();
    }
    expect([registry.getCertificate(cert.certificateId)?.status, seen]).toEqual(["REVOKED", ["REVOKED"]]);
  });

  it("fails when a thing names a thing type that does not exist (ResourceNotFoundException)", () => {
    expect(() => registry.putThing({ thingName: "SN-1", thingTypeName: "toaster" })).toThrow(IotError);
  });

  it("fails when a thing name has characters AWS does not allow", () => {
    expect(() => registry.putThing({ thingName: "SN 1/#" })).toThrow(/must match/);
  });

  it("fails when a principal is not a certificate ARN of this account", async () => {
    registry.putThing({ thingName: "SN-1" });
    const cert = await certificate();
    expect(() => registry.attachThingPrincipal("SN-1", cert.certificateArn.replace("111111111111", "222222222222"))).toThrow(/not a certificate ARN/);
  });

  it("GIVEN an existing thing WHEN put again THEN its version goes up and its id stays", () => {
    const first = registry.putThing({ thingName: "SN-1" });
    const second = registry.putThing({ thingName: "SN-1", attributes: { a: "2" } });
    expect([second.version, second.thingId]).toEqual([2, first.thingId]);
  });
});

describe("LocalIdentityPlane restart", () => {
  let first: PlaneFixture;

  afterAll(() => first?.close());

  it("GIVEN a work dir with the stack identities WHEN the plane restarts THEN the claim certificate and provisioned things are reused", async () => {
    first = await startPlane();
    const device = await provisionDevice(first, "SN-KEEP");
    const again = await startPlane({ workDir: first.workDir, ca: first.ca });
    expect([again.claimCertificateId, again.plane.describeCertificate(device)?.status, again.plane.registry.thingPrincipals("SN-KEEP")]).toEqual([
      first.claimCertificateId,
      "ACTIVE",
      [again.plane.registry.certificateArn(device)],
    ]);
  });
});
