/** Fakes for the identity command's tests: a Secrets Manager and an SSM parameter store behind aws-sdk-client-mock. */
import "reflect-metadata";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { mockClient } from "aws-sdk-client-mock";
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from "@aws-sdk/client-secrets-manager";
import { GetParameterCommand, ParameterNotFound, SSMClient } from "@aws-sdk/client-ssm";
import { identityLocations } from "../../stacks/shared/identity";
import { resourceNames } from "../../stacks/shared/naming";
import { loadConfig } from "../../config";
import { IdentityContext } from "../../scripts/identity/commands";
import { generateIdentity } from "../../scripts/identity/keys";
import { scratchDir } from "../support/scratch";

x509.cryptoProvider.set(webcrypto);

export interface FakeVersion {
  readonly versionId: string;
  readonly stages: string[];
  readonly value: string;
}

/** What the fake AWS holds before the command runs. */
export interface FakeAws {
  /** undefined: the secret does not exist. */
  versions?: FakeVersion[];
  /** The published certificate PEM (undefined: nothing published). */
  publishedCertificatePem?: string;
}

export function fakeAws(state: FakeAws) {
  const secrets = mockClient(SecretsManagerClient);
  const ssm = mockClient(SSMClient);
  if (state.versions === undefined) {
    secrets
      .on(ListSecretVersionIdsCommand)
      .rejects(new ResourceNotFoundException({ message: "Secrets Manager can't find the specified secret.", $metadata: {} }));
  } else {
    secrets.on(ListSecretVersionIdsCommand).resolves({ Versions: state.versions.map((v) => ({ VersionId: v.versionId, VersionStages: v.stages })) });
    for (const v of state.versions) secrets.on(GetSecretValueCommand, { VersionId: v.versionId }).resolves({ VersionId: v.versionId, SecretString: v.value });
  }
  secrets.on(PutSecretValueCommand).resolves({});
  secrets.on(CreateSecretCommand).resolves({});
  secrets.on(UpdateSecretVersionStageCommand).resolves({});
  if (state.publishedCertificatePem === undefined) {
    ssm.on(GetParameterCommand).rejects(new ParameterNotFound({ message: "not found", $metadata: {} }));
  } else {
    ssm.on(GetParameterCommand).resolves({
      Parameter: {
        Value: JSON.stringify({
          certificatePem: state.publishedCertificatePem,
          certificateId: "c0ffee01",
          endpoint: "a1-ats.iot.eu-west-1.amazonaws.com",
          thingName: "shf-dev-controller",
        }),
      },
    });
  }
  return { secrets, ssm };
}

/** The command context for the dev environment (the clients are the ones fakeAws() mocks). */
export function context(root: string, kind: "controller" | "claim" = "controller"): IdentityContext {
  const names = resourceNames(loadConfig("dev"));
  return {
    envName: "dev",
    kind,
    locations: identityLocations(names, kind),
    commonName: names.controllerThing,
    root,
    secrets: new SecretsManagerClient({ region: "eu-west-1" }),
    ssm: new SSMClient({ region: "eu-west-1" }),
  };
}

/** A key as the command would store it, plus the certificate AWS IoT would issue for its CSR. */
export async function issuedIdentity(): Promise<{ privateKeyPem: string; csrPem: string; certificatePem: string }> {
  const identity = await generateIdentity("test");
  return { ...identity, certificatePem: await certificateFor(identity.csrPem) };
}

/** Signs the CSR's public key with a throwaway CA key, as CreateCertificateFromCsr would. */
export async function certificateFor(csrPem: string): Promise<string> {
  const csr = new x509.Pkcs10CertificateRequest(csrPem);
  const ca = (await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: "01",
    subject: "CN=AWS IoT Certificate",
    issuer: "CN=Test CA",
    notBefore: new Date("2026-01-01T00:00:00Z"),
    notAfter: new Date("2049-12-31T23:59:59Z"),
    publicKey: csr.publicKey,
    signingKey: ca.privateKey,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
  });
  return cert.toString("pem");
}

export const tempRoot = () => scratchDir("shf-identity-");

/** Every file under `dir` with its content. */
export function filesUnder(dir: string, prefix = ""): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) Object.assign(out, filesUnder(path, `${prefix}${name}/`));
    else out[`${prefix}${name}`] = readFileSync(path, "utf8");
  }
  return out;
}
