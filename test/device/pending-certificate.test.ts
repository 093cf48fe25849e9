/** The pending certificate a device keeps between CreateCertificateFromCsr and a successful RegisterThing. */
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  PENDING_REUSE_MS,
  PendingCertificate,
  loadReusablePendingCertificate,
  pendingCertificatePath,
  savePendingCertificate,
} from "../../device/pending-certificate";
import { IssuedCertificate, LocalCa } from "../../local/pki";
import { memoryLogger } from "../support/broker";

const NOW = Date.parse("2026-11-26T12:00:00.000Z");
const SERIAL = "10000000pend0001";

let ca: LocalCa;
let issued: IssuedCertificate;
let other: IssuedCertificate;
let dataDir: string;

beforeAll(async () => {
  ca = await LocalCa.create({ commonName: "pending test CA" });
  issued = await ca.issueClientCertificate(SERIAL);
  other = await ca.issueClientCertificate("someone-else");
});

beforeEach(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "pending-"));
});

afterEach(async () => {
  await fs.rm(dataDir, { recursive: true, force: true });
});

function pending(overrides: Partial<PendingCertificate> = {}): PendingCertificate {
  return {
    serialNumber: SERIAL,
    certificateId: issued.certificateId,
    certificatePem: issued.certPem,
    keyPem: issued.keyPem,
    certificateOwnershipToken: "ownership-token-1",
    issuedAt: NOW - 60_000,
    ...overrides,
  };
}

const load = () => loadReusablePendingCertificate({ dataDir }, SERIAL, NOW, memoryLogger().log);
const exists = () =>
  fs.stat(pendingCertificatePath({ dataDir })).then(
    () => true,
    () => false,
  );

test("GIVEN a pending certificate WHEN it is saved THEN only the device's user can read it (0600)", async () => {
  savePendingCertificate({ dataDir }, pending());
  expect(((await fs.stat(pendingCertificatePath({ dataDir }))).mode & 0o777).toString(8)).toBe("600");
});

test("GIVEN a certificate issued a minute ago WHEN the device retries THEN it gets the same certificate, key and token back", async () => {
  savePendingCertificate({ dataDir }, pending());
  expect(load()).toEqual(pending());
});

test("GIVEN no pending certificate WHEN the device starts THEN there is nothing to reuse", () => {
  expect(load()).toBeUndefined();
});

test.each<[string, () => Partial<PendingCertificate>]>([
  ["its ownership token is older than the reuse window", () => ({ issuedAt: NOW - PENDING_REUSE_MS })],
  ["it was issued in the future (the clock went backwards)", () => ({ issuedAt: NOW + 60_000 })],
  ["it was issued for another serial", () => ({ serialNumber: "10000000other001" })],
  ["its key does not match its certificate", () => ({ keyPem: other.keyPem })],
  ["a field is missing", () => ({ certificateOwnershipToken: undefined as unknown as string })],
])("GIVEN a pending certificate WHEN %s THEN it is discarded, not reused", async (_name, overrides) => {
  savePendingCertificate({ dataDir }, pending(overrides()));
  expect(load()).toBeUndefined();
  expect(await exists()).toBe(false);
});

test("GIVEN a torn or corrupted record WHEN the device starts THEN it is discarded without an error", async () => {
  await fs.writeFile(pendingCertificatePath({ dataDir }), '{"serialNumber": "1000', { mode: 0o600 });
  expect(load()).toBeUndefined();
  expect(await exists()).toBe(false);
});
