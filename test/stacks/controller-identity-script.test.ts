/**
 * stacks/assets/controller-identity.sh (the controller's boot path) with real openssl and jq against a
 * scripted `aws` CLI: it takes the certificate Terraform published and the key version that matches it.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fakeAwsDir, keyAndCertificate } from "../support/identity-shell";

const SCRIPT = join(__dirname, "../../stacks/assets/controller-identity.sh");

const [first, second, stranger] = [keyAndCertificate(), keyAndCertificate(), keyAndCertificate()];

function run(command: string, state: { published?: string; current?: string; pending?: string; certDir?: string }) {
  const { dir, tmp } = fakeAwsDir({ ...state, fields: { thingName: "shf-dev-controller" } });
  const certDir = state.certDir ?? join(dir, "run-controller");
  const result = spawnSync("bash", [SCRIPT, command, certDir], {
    encoding: "utf8",
    env: {
      PATH: `${dir}:${process.env.PATH}`,
      FAKE_DIR: dir,
      TMPDIR: tmp,
      CONTROLLER_CONFIG: "/nonexistent",
      AWS_REGION: "eu-west-1",
      SECRET_ID: "shf-dev/controller-certificate",
      IDENTITY_PARAMETER: "/shf-dev/public/controller-identity",
    },
  });
  const calls = readFileSync(join(dir, "calls"), "utf8").trim().split("\n").filter(Boolean);
  return { code: result.status, stderr: result.stderr, certDir, calls, tmpFiles: readdirSync(tmp) };
}

const read = (dir: string, file: string) => readFileSync(join(dir, file), "utf8");

describe("controller-identity fetch", () => {
  test("GIVEN the current key matches the published certificate WHEN fetch THEN certificate, key, endpoint and thing name land in the directory", () => {
    const r = run("fetch", { published: first.certificatePem, current: first.keyPem });
    expect(r.code).toBe(0);
    expect(read(r.certDir, "certificate.pem").trim()).toBe(first.certificatePem.trim());
    expect(read(r.certDir, "private.key").trim()).toBe(first.keyPem.trim());
    expect(read(r.certDir, "endpoint").trim()).toBe("a1-ats.iot.eu-west-1.amazonaws.com");
    expect(read(r.certDir, "thing-name").trim()).toBe("shf-dev-controller");
  });

  test("GIVEN fetch THEN the directory is 0700 and the key 0600, and nothing is left in TMPDIR", () => {
    const r = run("fetch", { published: first.certificatePem, current: first.keyPem });
    expect(statSync(r.certDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(r.certDir, "private.key")).mode & 0o777).toBe(0o600);
    expect(r.tmpFiles).toEqual([]);
  });

  test("GIVEN a rotation was applied but not promoted WHEN fetch THEN the pending key that matches the new certificate is used", () => {
    const r = run("fetch", { published: second.certificatePem, current: first.keyPem, pending: second.keyPem });
    expect(r.code).toBe(0);
    expect(read(r.certDir, "private.key").trim()).toBe(second.keyPem.trim());
    expect(r.calls.filter((c) => c.startsWith("secretsmanager")).map((c) => / --version-stage (\S+)/.exec(c)![1])).toEqual(["AWSCURRENT", "AWSPENDING"]);
  });

  test("GIVEN a rotation is only in review (pending key, old certificate still published) WHEN fetch THEN the current key is used and the pending one never read", () => {
    const r = run("fetch", { published: first.certificatePem, current: first.keyPem, pending: second.keyPem });
    expect(read(r.certDir, "private.key").trim()).toBe(first.keyPem.trim());
    expect(r.calls.some((c) => c.includes("AWSPENDING"))).toBe(false);
  });

  test("GIVEN the legacy Terraform JSON as current WHEN fetch THEN it is skipped and the pending key used", () => {
    const legacy = JSON.stringify({ certificatePem: "x", privateKey: "y", endpoint: "z", thingName: "t" });
    const r = run("fetch", { published: second.certificatePem, current: legacy, pending: second.keyPem });
    expect(r.code).toBe(0);
    expect(read(r.certDir, "private.key").trim()).toBe(second.keyPem.trim());
  });

  test("fails (exit 3) when no key version matches the published certificate, and writes no key", () => {
    const r = run("fetch", { published: stranger.certificatePem, current: first.keyPem, pending: second.keyPem });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("no AWSCURRENT or AWSPENDING key in shf-dev/controller-certificate matches certificate c0ffee01");
    expect(existsSync(join(r.certDir, "private.key"))).toBe(false);
  });

  test("fails (exit 3) while nothing is published, without reading the secret", () => {
    const r = run("fetch", { current: first.keyPem });
    expect(r.code).toBe(3);
    expect(r.calls.some((c) => c.startsWith("secretsmanager"))).toBe(false);
  });
});

describe("controller-identity changed", () => {
  test("GIVEN the published certificate is the one in use WHEN changed THEN exit 1 (nothing to do)", () => {
    const fetched = run("fetch", { published: first.certificatePem, current: first.keyPem });
    expect(run("changed", { published: first.certificatePem, certDir: fetched.certDir }).code).toBe(1);
  });

  test("GIVEN a rotated certificate was published WHEN changed THEN exit 0 (redeploy)", () => {
    const fetched = run("fetch", { published: first.certificatePem, current: first.keyPem });
    expect(run("changed", { published: second.certificatePem, certDir: fetched.certDir }).code).toBe(0);
  });

  test("GIVEN SSM cannot be read WHEN changed THEN exit 1, so a running controller is left alone", () => {
    const fetched = run("fetch", { published: first.certificatePem, current: first.keyPem });
    expect(run("changed", { certDir: fetched.certDir }).code).toBe(1);
  });
});
