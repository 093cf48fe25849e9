/**
 * `npm run identity` against a mocked Secrets Manager and SSM: the exact requests, the CSR it commits,
 * and that no private key ever reaches the filesystem.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createHash, createPrivateKey, createPublicKey } from "node:crypto";
import { CreateSecretCommand, PutSecretValueCommand, UpdateSecretVersionStageCommand } from "@aws-sdk/client-secrets-manager";
import { identityCsrFile } from "../../stacks/shared/identity";
import { IdentityRefusal, runIdentityCommand } from "../../scripts/identity/commands";
import { csrCommonName, csrFingerprint } from "../../scripts/identity/keys";
import { main } from "../../scripts/identity";
import { pemLabel, throwawayRsaKeyPem } from "../support/pem";
import { context, fakeAws, filesUnder, issuedIdentity, tempRoot } from "./identity-support";

const CSR_FILE = identityCsrFile("dev", "controller");
const LEGACY_JSON = JSON.stringify({ certificatePem: "-----BEGIN CERTIFICATE-----", privateKey: throwawayRsaKeyPem(), endpoint: "x", thingName: "y" });

// The module object itself (not an import-star copy), so spies see the command's calls.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- see above
const fs = require("node:fs") as typeof import("node:fs");

const spkiSha256 = (privateKeyPem: string) =>
  createHash("sha256")
    .update(createPublicKey(createPrivateKey(privateKeyPem)).export({ type: "spki", format: "der" }))
    .digest("hex");

function withCsr(root: string, pem = "-----BEGIN CERTIFICATE REQUEST-----\nMA==\n-----END CERTIFICATE REQUEST-----\n"): void {
  mkdirSync(join(root, "identity", "dev"), { recursive: true });
  writeFileSync(join(root, CSR_FILE), pem);
}

function writesCalls(aws: ReturnType<typeof fakeAws>) {
  return [CreateSecretCommand, PutSecretValueCommand, UpdateSecretVersionStageCommand].flatMap((c) => aws.secrets.commandCalls(c as never));
}

afterEach(() => jest.restoreAllMocks());

describe("create", () => {
  test("GIVEN a fresh environment WHEN create THEN the secret is created with the key as its first (current) value", async () => {
    const root = tempRoot();
    const aws = fakeAws({ versions: undefined });
    await runIdentityCommand("create", context(root));
    const input = aws.secrets.commandCalls(CreateSecretCommand)[0].args[0].input;
    expect(input).toEqual({
      Name: "shf-dev/controller-certificate",
      Description: expect.any(String),
      SecretString: expect.any(String),
      ClientRequestToken: expect.any(String),
    });
    expect(pemLabel(input.SecretString!)).toBe("PRIVATE KEY");
    expect(aws.secrets.commandCalls(PutSecretValueCommand)).toHaveLength(0);
  });

  test("GIVEN a secret with no value WHEN create THEN the key is put as AWSCURRENT", async () => {
    const root = tempRoot();
    const aws = fakeAws({ versions: [] });
    await runIdentityCommand("create", context(root));
    const input = aws.secrets.commandCalls(PutSecretValueCommand)[0].args[0].input;
    expect(input).toEqual({
      SecretId: "shf-dev/controller-certificate",
      SecretString: expect.any(String),
      ClientRequestToken: expect.any(String),
      VersionStages: ["AWSCURRENT"],
    });
    expect(pemLabel(input.SecretString!)).toBe("PRIVATE KEY");
  });

  test("GIVEN the AWS-generated key that Terraform wrote as AWSCURRENT WHEN create (migration) THEN the new key is only AWSPENDING", async () => {
    const root = tempRoot();
    const aws = fakeAws({ versions: [{ versionId: "legacy", stages: ["AWSCURRENT"], value: LEGACY_JSON }] });
    await runIdentityCommand("create", context(root));
    expect(aws.secrets.commandCalls(PutSecretValueCommand).map((c) => c.args[0].input.VersionStages)).toEqual([["AWSPENDING"]]);
    expect(aws.secrets.commandCalls(UpdateSecretVersionStageCommand)).toHaveLength(0);
  });

  test("GIVEN create WHEN the CSR is read back THEN it parses, its signature holds and its public key is the key sent to the secret", async () => {
    const root = tempRoot();
    const aws = fakeAws({ versions: [] });
    await runIdentityCommand("create", context(root));
    const sentKey = aws.secrets.commandCalls(PutSecretValueCommand)[0].args[0].input.SecretString!;
    const csr = readFileSync(join(root, CSR_FILE), "utf8");
    expect(await csrFingerprint(csr)).toBe(spkiSha256(sentKey));
    expect(csrCommonName(csr)).toBe("shf-dev-controller");
  });

  test("fails when Secrets Manager refuses the key, leaving no CSR behind (a CSR without its key would be applied)", async () => {
    const root = tempRoot();
    const aws = fakeAws({ versions: [] });
    aws.secrets.on(PutSecretValueCommand).rejects(new Error("AccessDeniedException: not allowed"));
    await expect(runIdentityCommand("create", context(root))).rejects.toThrow("AccessDeniedException");
    expect(filesUnder(root)).toEqual({});
  });

  test("fails when the CSR already exists, telling to rotate, and writes nothing", async () => {
    const root = tempRoot();
    withCsr(root);
    const aws = fakeAws({ versions: [] });
    const run = runIdentityCommand("create", context(root));
    await expect(run).rejects.toThrow(IdentityRefusal);
    await expect(run).rejects.toThrow("IOT_ENV=dev npm run identity -- rotate controller");
    expect(writesCalls(aws)).toHaveLength(0);
  });
});

describe("rotate", () => {
  test("GIVEN a published identity WHEN rotate THEN the new key is AWSPENDING and the CSR is replaced by one for that key", async () => {
    const root = tempRoot();
    const old = await issuedIdentity();
    withCsr(root, old.csrPem);
    const aws = fakeAws({ versions: [{ versionId: "v1", stages: ["AWSCURRENT"], value: old.privateKeyPem }], publishedCertificatePem: old.certificatePem });
    await runIdentityCommand("rotate", context(root));
    const puts = aws.secrets.commandCalls(PutSecretValueCommand).map((c) => c.args[0].input);
    expect(puts).toEqual([
      { SecretId: "shf-dev/controller-certificate", SecretString: expect.any(String), ClientRequestToken: expect.any(String), VersionStages: ["AWSPENDING"] },
    ]);
    const csr = readFileSync(join(root, CSR_FILE), "utf8");
    expect(csr).not.toBe(old.csrPem);
    expect(await csrFingerprint(csr)).toBe(spkiSha256(puts[0].SecretString!));
    expect(aws.secrets.commandCalls(UpdateSecretVersionStageCommand)).toHaveLength(0);
  });

  test("fails when there is no CSR yet, telling to create", async () => {
    const aws = fakeAws({ versions: [] });
    await expect(runIdentityCommand("rotate", context(tempRoot()))).rejects.toThrow("IOT_ENV=dev npm run identity -- create controller");
    expect(writesCalls(aws)).toHaveLength(0);
  });

  test("fails when the secret does not exist, telling to create, and writes nothing", async () => {
    const root = tempRoot();
    withCsr(root);
    const aws = fakeAws({ versions: undefined });
    await expect(runIdentityCommand("rotate", context(root))).rejects.toThrow("does not exist: run `IOT_ENV=dev npm run identity -- create controller`");
    expect(writesCalls(aws)).toHaveLength(0);
  });

  test("fails when the published certificate already carries the pending key, telling to promote first", async () => {
    const root = tempRoot();
    const [old, next] = [await issuedIdentity(), await issuedIdentity()];
    withCsr(root, next.csrPem);
    const aws = fakeAws({
      versions: [
        { versionId: "v1", stages: ["AWSCURRENT"], value: old.privateKeyPem },
        { versionId: "v2", stages: ["AWSPENDING"], value: next.privateKeyPem },
      ],
      publishedCertificatePem: next.certificatePem,
    });
    await expect(runIdentityCommand("rotate", context(root))).rejects.toThrow("promote controller");
    expect(writesCalls(aws)).toHaveLength(0);
    expect(readFileSync(join(root, CSR_FILE), "utf8")).toBe(next.csrPem);
  });
});

describe("promote", () => {
  test("GIVEN the published certificate carries the pending key WHEN promote THEN AWSCURRENT moves to it and the old key is deprecated", async () => {
    const [old, next] = [await issuedIdentity(), await issuedIdentity()];
    const aws = fakeAws({
      versions: [
        { versionId: "v1", stages: ["AWSCURRENT"], value: old.privateKeyPem },
        { versionId: "v2", stages: ["AWSPENDING"], value: next.privateKeyPem },
      ],
      publishedCertificatePem: next.certificatePem,
    });
    await runIdentityCommand("promote", context(tempRoot()));
    expect(aws.secrets.commandCalls(UpdateSecretVersionStageCommand).map((c) => c.args[0].input)).toEqual([
      { SecretId: "shf-dev/controller-certificate", VersionStage: "AWSCURRENT", MoveToVersionId: "v2", RemoveFromVersionId: "v1" },
      { SecretId: "shf-dev/controller-certificate", VersionStage: "AWSPENDING", RemoveFromVersionId: "v2" },
      { SecretId: "shf-dev/controller-certificate", VersionStage: "AWSPREVIOUS", RemoveFromVersionId: "v1" },
    ]);
    expect(aws.secrets.commandCalls(PutSecretValueCommand)).toHaveLength(0);
  });

  test("GIVEN the current key already matches WHEN promote THEN nothing changes", async () => {
    const current = await issuedIdentity();
    const aws = fakeAws({
      versions: [{ versionId: "v1", stages: ["AWSCURRENT"], value: current.privateKeyPem }],
      publishedCertificatePem: current.certificatePem,
    });
    expect(await runIdentityCommand("promote", context(tempRoot()))).toEqual([expect.stringContaining("nothing to promote")]);
    expect(writesCalls(aws)).toHaveLength(0);
  });

  test("fails when no key version matches the published certificate, and moves no label", async () => {
    const [old, next, other] = [await issuedIdentity(), await issuedIdentity(), await issuedIdentity()];
    const aws = fakeAws({
      versions: [
        { versionId: "v1", stages: ["AWSCURRENT"], value: old.privateKeyPem },
        { versionId: "v2", stages: ["AWSPENDING"], value: next.privateKeyPem },
      ],
      publishedCertificatePem: other.certificatePem,
    });
    await expect(runIdentityCommand("promote", context(tempRoot()))).rejects.toThrow(/No key version matches the published certificate c0ffee01/);
    expect(writesCalls(aws)).toHaveLength(0);
  });

  test("fails when nothing is published yet, telling to apply the stack", async () => {
    const aws = fakeAws({ versions: [{ versionId: "v1", stages: ["AWSCURRENT"], value: LEGACY_JSON }] });
    await expect(runIdentityCommand("promote", context(tempRoot()))).rejects.toThrow("apply the `iot` stack first");
    expect(writesCalls(aws)).toHaveLength(0);
  });
});

describe("status", () => {
  test("GIVEN a legacy current value and a pending key that matches WHEN status THEN it names the pending version and says to promote", async () => {
    const next = await issuedIdentity();
    const aws = fakeAws({
      versions: [
        { versionId: "legacy", stages: ["AWSCURRENT"], value: LEGACY_JSON },
        { versionId: "v2", stages: ["AWSPENDING"], value: next.privateKeyPem },
      ],
      publishedCertificatePem: next.certificatePem,
    });
    const lines = await runIdentityCommand("status", context(tempRoot()));
    expect(lines).toContainEqual(expect.stringMatching(/version legacy \[AWSCURRENT\]: not a PEM private key/));
    expect(lines).toContainEqual("  version v2 [AWSPENDING]: matches the published certificate");
    expect(lines[lines.length - 1]).toBe("Consumers use version v2 (AWSPENDING); run `IOT_ENV=dev npm run identity -- promote controller`.");
    expect(writesCalls(aws)).toHaveLength(0);
  });
});

describe("key material", () => {
  const KEY_MARKER = "PRIVATE KEY";

  test.each(["create", "rotate"] as const)("GIVEN %s WHEN it runs THEN no file write carries a private key and only the CSR is written", async (verb) => {
    const root = tempRoot();
    const current = await issuedIdentity();
    if (verb === "rotate") withCsr(root, current.csrPem);
    fakeAws({ versions: [{ versionId: "v1", stages: ["AWSCURRENT"], value: current.privateKeyPem }], publishedCertificatePem: current.certificatePem });
    const spies = [
      jest.spyOn(fs, "writeFileSync"),
      jest.spyOn(fs, "appendFileSync"),
      jest.spyOn(fs, "writeSync"),
      jest.spyOn(fs, "createWriteStream"),
      jest.spyOn(fs.promises, "writeFile"),
      jest.spyOn(fs.promises, "appendFile"),
    ];
    await runIdentityCommand(verb, context(root));
    const written = spies.flatMap((spy) => spy.mock.calls.map((args) => args.map(String).join(" ")));
    expect(written.some((w) => w.includes("CERTIFICATE REQUEST"))).toBe(true); // the spies do see the command's writes
    expect(written.filter((w) => w.includes(KEY_MARKER))).toEqual([]);
    const files = filesUnder(root);
    expect(Object.keys(files)).toEqual([CSR_FILE]);
    expect(files[CSR_FILE]).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----\n[^]*-----END CERTIFICATE REQUEST-----\n$/);
  });
});

describe("command line", () => {
  test.each([[[]], [["create"]], [["create", "gateway"]], [["revoke", "claim"]], [["create", "claim", "extra"]]])(
    "fails with usage (exit 2) for %j",
    async (argv) => {
      const errors: string[] = [];
      expect(
        await main(
          argv as string[],
          () => undefined,
          (line) => errors.push(line),
        ),
      ).toBe(2);
      expect(errors[0]).toMatch(/^usage: npm run identity -- <create\|rotate\|promote\|status> <controller\|claim>/);
    },
  );
});
