/**
 * device/claim-files.sh (preparing an SD card) with real openssl and jq against a scripted `aws` CLI:
 * the claim certificate, endpoint and template come from the published identity, the key from the
 * version that matches it.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FakeAwsState, fakeAwsDir, keyAndCertificate } from "../support/identity-shell";

const SCRIPT = join(__dirname, "../../device/claim-files.sh");
const [first, second] = [keyAndCertificate(), keyAndCertificate()];

function run(state: FakeAwsState) {
  const { dir, tmp } = fakeAwsDir({ ...state, fields: { templateName: "shf-dev-pi-provisioning" } });
  writeFileSync(join(dir, "root-ca.pem"), "ROOT CA\n");
  const card = join(dir, "bootfs", "smart-home");
  const result = spawnSync("bash", [SCRIPT, "/shf-dev/public/claim-identity", "shf-dev/claim-certificate", card], {
    encoding: "utf8",
    env: { PATH: `${dir}:${process.env.PATH}`, FAKE_DIR: dir, TMPDIR: tmp, AMAZON_ROOT_CA_URL: `file://${join(dir, "root-ca.pem")}` },
  });
  return { code: result.status, stderr: result.stderr, card, tmpFiles: readdirSync(tmp) };
}

const read = (dir: string, file: string) => readFileSync(join(dir, file), "utf8");

test("GIVEN a published claim WHEN the card is prepared THEN certificate, matching key (0600), endpoint, template and root CA are written", () => {
  const r = run({ published: first.certificatePem, current: first.keyPem });
  expect(r.code).toBe(0);
  expect(read(r.card, "claim.cert.pem").trim()).toBe(first.certificatePem.trim());
  expect(read(r.card, "claim.key.pem").trim()).toBe(first.keyPem.trim());
  expect(statSync(join(r.card, "claim.key.pem")).mode & 0o777).toBe(0o600);
  expect(JSON.parse(read(r.card, "claim.json"))).toEqual({ endpoint: "a1-ats.iot.eu-west-1.amazonaws.com", templateName: "shf-dev-pi-provisioning" });
  expect(read(r.card, "AmazonRootCA1.pem")).toBe("ROOT CA\n");
  expect(r.tmpFiles).toEqual([]);
});

test("GIVEN a claim rotation was applied but not promoted WHEN the card is prepared THEN the pending key is written", () => {
  const r = run({ published: second.certificatePem, current: first.keyPem, pending: second.keyPem });
  expect(r.code).toBe(0);
  expect(read(r.card, "claim.key.pem").trim()).toBe(second.keyPem.trim());
});

test("fails (exit 3) when no key version matches the published certificate, writing nothing", () => {
  const r = run({ published: second.certificatePem, current: first.keyPem });
  expect(r.code).toBe(3);
  expect(r.stderr).toContain("npm run identity -- status claim");
  expect(existsSync(r.card)).toBe(false);
});

test("fails (exit 3) when nothing is published yet, writing nothing", () => {
  const r = run({ current: first.keyPem });
  expect(r.code).toBe(3);
  expect(existsSync(r.card)).toBe(false);
});
